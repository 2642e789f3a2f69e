package ipc

import (
	"context"
	"time"
)

// Op names a control operation on the wire and binds it, at compile time,
// to its request type Req and reply type Rep: a Client method can only send
// an Op's Req and decode its Rep, and the daemon's route for an Op can only
// be a handler taking Req and returning Rep.
type Op[Req, Rep any] string

// Name returns the operation's name on the wire.
func (o Op[Req, Rep]) Name() string { return string(o) }

// Control is the mfad daemon's control API: one method per operation. The
// daemon serves it on the control socket, one implementation per
// connection; Client implements it over that socket.
//
// To add an operation: declare its Op, its request and reply types and its
// method here; write the method of the daemon's implementation and its line
// in the daemon's route table (daemon/control.go); write the Client method
// (ipc/control_client.go). The compiler checks that both sides implement
// Control and that each route's handler fits its Op.
//
// Errors: a method returns an error that errors.Is matches against the
// Code constants (CodeLocked, …); Message says what to do.
type Control interface {
	// Status reports the daemon's state, or one profile's.
	Status(ctx context.Context, in StatusRequest) (StatusReply, error)
	// Unlock starts a profile's MFA session with a code.
	Unlock(ctx context.Context, in UnlockRequest) (ProfileStatus, error)
	// Lock drops sessions, of one profile or all.
	Lock(ctx context.Context, in LockRequest) (LockReply, error)
	// Env issues a token for a profile that lives until revoked.
	Env(ctx context.Context, in EnvRequest) (EnvReply, error)
	// Exec issues a token for a profile that is revoked when the
	// connection closes; it fails with CodeLocked when the profile is
	// locked.
	Exec(ctx context.Context, in EnvRequest) (EnvReply, error)
	// Credentials returns a profile's credentials (credential_process).
	Credentials(ctx context.Context, in CredentialsRequest) (CredentialsReply, error)
	// Tokens lists endpoint tokens, without their values.
	Tokens(ctx context.Context, in TokensRequest) (TokensReply, error)
	// Revoke revokes a token by id.
	Revoke(ctx context.Context, in RevokeRequest) (RevokeReply, error)
	// Hold returns only when the daemon stops (or ctx ends): an `mfad
	// exec` holds a call open to learn at once that its daemon went away,
	// then reconnects and adopts its token again (Adopt).
	Hold(ctx context.Context, in HoldRequest) (HoldReply, error)
	// Adopt binds an exec token restored after a daemon restart to the
	// calling connection again.
	Adopt(ctx context.Context, in AdoptRequest) (EnvReply, error)
	// Passphrase opens the encrypted keystore file of a daemon that
	// started without its passphrase (StatusReply.KeystoreLocked).
	Passphrase(ctx context.Context, in PassphraseRequest) (StatusReply, error)
	// Rotate replaces a key profile's long-term access key through its MFA
	// session (a role profile rotates its source profile's key).
	Rotate(ctx context.Context, in RotateRequest) (RotateReply, error)
	// Login returns an AWS console sign-in URL for a role profile.
	Login(ctx context.Context, in LoginRequest) (LoginReply, error)
}

// The operations of Control on the wire.
const (
	OpStatus      Op[StatusRequest, StatusReply]           = "status"
	OpUnlock      Op[UnlockRequest, ProfileStatus]         = "unlock"
	OpLock        Op[LockRequest, LockReply]               = "lock"
	OpEnv         Op[EnvRequest, EnvReply]                 = "env"
	OpExec        Op[EnvRequest, EnvReply]                 = "exec"
	OpCredentials Op[CredentialsRequest, CredentialsReply] = "credentials"
	OpTokens      Op[TokensRequest, TokensReply]           = "tokens"
	OpRevoke      Op[RevokeRequest, RevokeReply]           = "revoke"
	OpHold        Op[HoldRequest, HoldReply]               = "hold"
	OpAdopt       Op[AdoptRequest, EnvReply]               = "adopt"
	OpPassphrase  Op[PassphraseRequest, StatusReply]       = "passphrase"
	OpRotate      Op[RotateRequest, RotateReply]           = "rotate"
	OpLogin       Op[LoginRequest, LoginReply]             = "login"
)

// LoginRequest asks for a console sign-in URL.
type LoginRequest struct {
	Profile string `json:"profile"`
	// DurationSeconds asks for credentials of that lifetime for the console
	// session (0 = the profile's current role session).
	DurationSeconds int64 `json:"duration_seconds,omitempty"`
	// Path is the console page to open ("" = the console home).
	Path string `json:"path,omitempty"`
}

// LoginReply carries a sign-in URL: a secret for its 15 minutes.
type LoginReply struct {
	// URL signs whoever opens it in to the console.
	URL string `json:"url"`
	// SessionEnd is when the console session ends (the role credentials'
	// expiry).
	SessionEnd time.Time `json:"session_end"`
	// RoleARN is the role signed in as.
	RoleARN string `json:"role_arn"`
}

// RotateRequest names the profile whose access key to rotate.
type RotateRequest struct {
	Profile string `json:"profile"`
}

// RotateReply describes a completed rotation.
type RotateReply struct {
	// KeyProfile is the profile whose key was rotated.
	KeyProfile string `json:"key_profile"`
	// OldKeyID was deleted in IAM; NewKeyID is stored and used.
	OldKeyID string `json:"old_access_key_id"`
	NewKeyID string `json:"new_access_key_id"`
	// Created is when IAM created the new key.
	Created time.Time `json:"created"`
	// UserARN is the IAM user.
	UserARN string `json:"user_arn,omitempty"`
	// VerifyAttempts is how many calls the new key took to work.
	VerifyAttempts int `json:"verify_attempts"`
}

// HoldRequest has no fields.
type HoldRequest struct{}

// HoldReply has no fields.
type HoldReply struct{}

// PassphraseRequest carries the keystore file's passphrase.
type PassphraseRequest struct {
	Passphrase string `json:"passphrase"`
}

// AdoptRequest names an exec token by its value (proof of possession).
type AdoptRequest struct {
	Token string `json:"token"`
}

// StatusRequest asks for the state of one profile ("" = all).
type StatusRequest struct {
	Profile string `json:"profile,omitempty"`
}

// StatusReply is the daemon's state.
type StatusReply struct {
	// Endpoint is the credentials endpoint's base URL.
	Endpoint string `json:"endpoint"`
	// PID is the daemon's process id.
	PID int `json:"pid"`
	// Keystore names the keystore backend.
	Keystore string `json:"keystore"`
	// KeystoreLocked reports that the encrypted keystore file waits for its
	// passphrase (OpPassphrase); KeystoreFile names it.
	KeystoreLocked bool   `json:"keystore_locked,omitempty"`
	KeystoreFile   string `json:"keystore_file,omitempty"`
	// ConfigError is why the last change to the configuration files was
	// refused; the configuration before it is still served.
	ConfigError string `json:"config_error,omitempty"`
	// ClockSkewSeconds is how far STS's clock was ahead of this machine's
	// at the last STS call (negative: behind), when that is a minute or
	// more: mfad then reads expiries on STS's time, but the clock is wrong.
	ClockSkewSeconds int64 `json:"clock_skew_seconds,omitempty"`
	// Profiles are the profiles' states, sorted by name.
	Profiles []ProfileStatus `json:"profiles"`
}

// ProfileStatus is one profile's state.
type ProfileStatus struct {
	Profile    string `json:"profile"`
	KeyProfile string `json:"key_profile"`
	RoleARN    string `json:"role_arn,omitempty"`
	MFASerial  string `json:"mfa_serial,omitempty"`
	MFASource  string `json:"mfa_source"`
	Unlocked   bool   `json:"unlocked"`
	// RoleLocked reports a role profile locked on its own (`mfad lock`):
	// unlocking it needs no code while SessionExpiration, its key
	// profile's MFA session, lasts.
	RoleLocked    bool      `json:"role_locked,omitempty"`
	URL           string    `json:"url,omitempty"`
	MFAAt         time.Time `json:"mfa_at,omitzero"`
	MFAAgeSeconds int64     `json:"mfa_age_seconds,omitempty"`
	// MFAMaxAgeSeconds is the configured window (0 = none).
	MFAMaxAgeSeconds int64 `json:"mfa_max_age_seconds,omitempty"`
	// SuggestedMFAMaxAgeSeconds is a window found in the profile's policy files, when mfa_max_age is unset.
	SuggestedMFAMaxAgeSeconds int64 `json:"suggested_mfa_max_age_seconds,omitempty"`
	// WindowLapsed reports that the MFA window closed with no new code.
	WindowLapsed bool `json:"window_lapsed,omitempty"`
	// SessionExpiration is the MFA session's expiry as STS returned it.
	SessionExpiration time.Time `json:"session_expiration,omitzero"`
	// RoleExpiration is the role session's expiry (role profiles).
	RoleExpiration time.Time `json:"role_expiration,omitzero"`
	// ServedExpiration is the Expiration clients are given.
	ServedExpiration time.Time `json:"served_expiration,omitzero"`
	// NextRefresh is when the daemon next renews or asks for a code.
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	// NeedCode reports that a new MFA code is wanted; CodeReason says why.
	NeedCode   bool   `json:"need_code,omitempty"`
	CodeReason string `json:"code_reason,omitempty"`
	// LastError is the last renewal or code-source failure.
	LastError string `json:"last_error,omitempty"`
	// AccessKeyID is the long-term key the key profile uses, when known.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// KeyCreated is when IAM created that key, when known.
	KeyCreated time.Time `json:"key_created,omitzero"`
	// KeyMaxAgeSeconds is the key profile's key_max_age (0 = none).
	KeyMaxAgeSeconds int64 `json:"key_max_age_seconds,omitempty"`
	// RotationDue reports a key older than key_max_age.
	RotationDue bool `json:"rotation_due,omitempty"`
	// ShortLifetimeSeconds is the lifetime of the credentials STS last
	// issued for the profile when it was no longer than the profile's lead
	// (refresh_lead for a role, mfa_lead for an MFA session): they are then
	// renewed at half their life, at most once a minute.
	ShortLifetimeSeconds int64 `json:"short_lifetime_seconds,omitempty"`
}

// UnlockRequest carries an MFA code for a profile, or asks the daemon to
// get one from the profile's code source (FromSource, with no Code).
type UnlockRequest struct {
	Profile    string `json:"profile"`
	Code       string `json:"code,omitempty"`
	FromSource bool   `json:"from_source,omitempty"`
}

// LockRequest locks one profile, or all.
type LockRequest struct {
	Profile string `json:"profile,omitempty"`
	All     bool   `json:"all,omitempty"`
}

// LockReply lists the profiles locked.
type LockReply struct {
	Locked []string `json:"locked"`
}

// EnvRequest asks for the variables that point a client at a profile.
type EnvRequest struct {
	Profile string `json:"profile"`
	// Label says who the token is for (shown by `mfad tokens list`).
	Label string `json:"label,omitempty"`
	// WatchPID, for OpEnv, is the process the token is handed to (the
	// shell that evaluates `mfad env`): the token is revoked when it
	// exits. 0 keeps the token until it is revoked.
	WatchPID int `json:"watch_pid,omitempty"`
}

// EnvReply is what a client needs to fetch credentials.
type EnvReply struct {
	// URL is AWS_CONTAINER_CREDENTIALS_FULL_URI.
	URL string `json:"url"`
	// Token is AWS_CONTAINER_AUTHORIZATION_TOKEN.
	Token string `json:"token"`
	// TokenFile is AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	TokenFile string `json:"token_file"`
	// TokenID names the token.
	TokenID string `json:"token_id"`
	// Region is the profile's region (AWS_REGION).
	Region string `json:"region,omitempty"`
}

// CredentialsRequest asks for a profile's credentials (credential_process).
type CredentialsRequest struct {
	Profile string `json:"profile"`
}

// CredentialsReply is the credential_process output (Version 1).
type CredentialsReply struct {
	Version         int       `json:"Version"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
}

// TokensRequest lists endpoint tokens.
type TokensRequest struct{}

// TokenInfo describes a token without its value.
type TokenInfo struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Profile string    `json:"profile,omitempty"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	// WatchPID is the process whose exit revokes the token (0 = none).
	WatchPID int `json:"watch_pid,omitempty"`
	// Stale reports that the process the token was handed to is gone.
	Stale bool `json:"stale,omitempty"`
}

// TokensReply lists tokens.
type TokensReply struct {
	Tokens []TokenInfo `json:"tokens"`
}

// RevokeRequest revokes a token by id.
type RevokeRequest struct {
	ID string `json:"id"`
}

// RevokeReply confirms a revocation.
type RevokeReply struct {
	Revoked TokenInfo `json:"revoked"`
}
