package ipc

import "time"

// Operations of the control protocol. Each names its request and reply
// bodies below.
const (
	// OpStatus: StatusRequest → StatusReply.
	OpStatus = "status"
	// OpUnlock: UnlockRequest → ProfileStatus.
	OpUnlock = "unlock"
	// OpLock: LockRequest → LockReply.
	OpLock = "lock"
	// OpEnv: EnvRequest → EnvReply (a token that lives until revoked).
	OpEnv = "env"
	// OpExec: EnvRequest → EnvReply (a token revoked when the connection
	// closes); an error with code "locked" when the profile is locked.
	OpExec = "exec"
	// OpCredentials: CredentialsRequest → CredentialsReply.
	OpCredentials = "credentials"
	// OpTokens: TokensRequest → TokensReply.
	OpTokens = "tokens"
	// OpRevoke: RevokeRequest → RevokeReply.
	OpRevoke = "revoke"
	// OpHold: no body → no body. The daemon answers only when it stops; an
	// `mfad exec` holds a call open to learn at once that its daemon went
	// away, then reconnects and adopts its token again (OpAdopt).
	OpHold = "hold"
	// OpAdopt: AdoptRequest → EnvReply. Binds an exec token restored after
	// a daemon restart to the calling connection again.
	OpAdopt = "adopt"
	// OpPassphrase: PassphraseRequest → StatusReply. Opens the encrypted
	// keystore file of a daemon that started without its passphrase
	// (StatusReply.KeystoreLocked).
	OpPassphrase = "passphrase"
)

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
	// Profiles are the profiles' states, sorted by name.
	Profiles []ProfileStatus `json:"profiles"`
}

// ProfileStatus is one profile's state.
type ProfileStatus struct {
	Profile       string    `json:"profile"`
	KeyProfile    string    `json:"key_profile"`
	RoleARN       string    `json:"role_arn,omitempty"`
	MFASerial     string    `json:"mfa_serial,omitempty"`
	MFASource     string    `json:"mfa_source"`
	Unlocked      bool      `json:"unlocked"`
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
