// Package session turns a profile's long-term keys and an MFA code into
// short-lived credentials through AWS STS, and caches the result in the
// keystore so that a restart needs no new code.
//
// An MFA session comes from GetSessionToken and belongs to a key profile (one
// that holds long-term keys). A role session comes from AssumeRole called with
// that MFA session's credentials; it carries the MFA session's authentication
// time, because aws:MultiFactorAuthAge carries through to roles assumed from an
// MFA session.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/c0950fac/mfad/keystore"
)

// Kind says how a session's credentials were obtained.
type Kind string

// Session kinds.
const (
	// KindMFA is a GetSessionToken session made with an MFA code.
	KindMFA Kind = "mfa"
	// KindRole is an AssumeRole session made from an MFA session.
	KindRole Kind = "role"
)

// Credentials is one set of temporary AWS credentials.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	// AccountID is the account the credentials belong to, when known.
	AccountID string `json:"account_id,omitempty"`
}

// String describes the credentials without their secret parts.
func (c Credentials) String() string {
	return fmt.Sprintf("credentials %s (expires %s)", c.AccessKeyID, c.Expiration.UTC().Format(time.RFC3339))
}

// GoString is like String, so %#v prints no secret either.
func (c Credentials) GoString() string { return c.String() }

// LogValue logs the key id and expiry only.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration.UTC()),
	)
}

// Session is a set of temporary credentials and what mfad knows of them.
type Session struct {
	// Version of the cached form.
	Version int `json:"v"`
	// Kind is KindMFA or KindRole.
	Kind Kind `json:"kind"`
	// Profile is the profile the session was made for.
	Profile string `json:"profile"`
	// MFASerial is the MFA device whose code made (or underlies) the session.
	MFASerial string `json:"mfa_serial"`
	// MFAAt is when STS accepted the MFA code: the basis of aws:MultiFactorAuthAge.
	MFAAt time.Time `json:"mfa_at"`
	// RoleARN is the assumed role (KindRole only).
	RoleARN string `json:"role_arn,omitempty"`
	// AssumedRoleARN is the role session's ARN as STS reported it (KindRole only).
	AssumedRoleARN string `json:"assumed_role_arn,omitempty"`
	// IssuedAt is when STS issued these credentials.
	IssuedAt time.Time `json:"issued_at"`
	// Credentials are the temporary credentials; Expiration is what STS returned.
	Credentials Credentials `json:"credentials"`
	// ClockOffset is how far STS's clock was ahead of this machine's when
	// the credentials were issued (negative: behind), when it was off by
	// more than the measurement's error; see Broker.ClockSkew.
	ClockOffset time.Duration `json:"clock_offset,omitempty"`
}

// Expires is when the credentials expire on this machine's clock: STS's
// Expiration moved by the clock offset measured when they were issued.
func (s *Session) Expires() time.Time {
	return s.Credentials.Expiration.Add(-s.ClockOffset)
}

// Lifetime is how long the credentials lasted when STS issued them.
func (s *Session) Lifetime() time.Duration {
	return s.Expires().Sub(s.IssuedAt)
}

// cacheVersion is the version of the cached form written by Save.
const cacheVersion = 1

// String describes the session without secrets.
func (s *Session) String() string {
	if s == nil {
		return "no session"
	}
	return fmt.Sprintf("%s session of profile %s, MFA at %s, %s", s.Kind, s.Profile,
		s.MFAAt.UTC().Format(time.RFC3339), s.Credentials)
}

// LogValue logs the session without secrets.
func (s *Session) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("none")
	}
	return slog.GroupValue(
		slog.String("kind", string(s.Kind)),
		slog.String("profile", s.Profile),
		slog.Time("mfa_at", s.MFAAt.UTC()),
		slog.Any("credentials", s.Credentials),
	)
}

// Valid reports whether the credentials are still usable at now, with at
// least margin to spare. It compares wall-clock times.
func (s *Session) Valid(now time.Time, margin time.Duration) bool {
	return s != nil && now.Round(0).Add(margin).Before(s.Expires())
}

// MFAAge is how long ago the MFA code was accepted, at now.
func (s *Session) MFAAge(now time.Time) time.Duration {
	return now.Round(0).Sub(s.MFAAt)
}

// Encode returns the cached form of the session (it contains secrets: store
// it only in the keystore).
func (s *Session) Encode() ([]byte, error) {
	c := *s
	c.Version = cacheVersion
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode session of profile %s: %w", s.Profile, err)
	}
	return b, nil
}

// Decode parses a cached session.
func Decode(b []byte) (*Session, error) {
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode cached session: %w", err)
	}
	if s.Version != cacheVersion {
		return nil, fmt.Errorf("cached session has version %d, this mfad reads version %d", s.Version, cacheVersion)
	}
	if s.Credentials.AccessKeyID == "" || s.Credentials.SecretAccessKey == "" || s.Credentials.SessionToken == "" {
		return nil, errors.New("cached session is incomplete")
	}
	return &s, nil
}

// Save stores s in the keystore under its profile.
func Save(ctx context.Context, st keystore.Store, s *Session) error {
	b, err := s.Encode()
	if err != nil {
		return err
	}
	if err := st.Set(ctx, s.Profile, keystore.SessionItem, b); err != nil {
		return fmt.Errorf("cache session of profile %s in the %s keystore: %w", s.Profile, st.Backend(), err)
	}
	return nil
}

// Load restores the cached session of profile. It returns (nil, nil) when
// there is none, or when the cached one has expired or is unreadable (it is
// then removed, so the next unlock starts clean).
func Load(ctx context.Context, st keystore.Store, profile string, now time.Time) (*Session, error) {
	b, err := st.Get(ctx, profile, keystore.SessionItem)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cached session of profile %s from the %s keystore: %w", profile, st.Backend(), err)
	}
	s, derr := Decode(b)
	if derr != nil || s.Profile != profile || !s.Valid(now, time.Minute) {
		if err := st.Delete(ctx, profile, keystore.SessionItem); err != nil {
			return nil, fmt.Errorf("drop stale cached session of profile %s: %w", profile, err)
		}
		return nil, nil
	}
	return s, nil
}

// Drop removes the cached session of profile.
func Drop(ctx context.Context, st keystore.Store, profile string) error {
	if err := st.Delete(ctx, profile, keystore.SessionItem); err != nil {
		return fmt.Errorf("remove cached session of profile %s from the %s keystore: %w", profile, st.Backend(), err)
	}
	return nil
}

// SaveRole stores a role session under its profile.
func SaveRole(ctx context.Context, st keystore.Store, s *Session) error {
	b, err := s.Encode()
	if err != nil {
		return err
	}
	if err := st.Set(ctx, s.Profile, keystore.RoleSessionItem, b); err != nil {
		return fmt.Errorf("cache role session of profile %s in the %s keystore: %w", s.Profile, st.Backend(), err)
	}
	return nil
}

// LoadRole restores a cached role session, like Load.
func LoadRole(ctx context.Context, st keystore.Store, profile string, now time.Time) (*Session, error) {
	b, err := st.Get(ctx, profile, keystore.RoleSessionItem)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cached role session of profile %s: %w", profile, err)
	}
	s, derr := Decode(b)
	if derr != nil || s.Kind != KindRole || s.Profile != profile || !s.Valid(now, time.Minute) {
		return nil, DropRole(ctx, st, profile)
	}
	return s, nil
}

// DropRole removes a cached role session.
func DropRole(ctx context.Context, st keystore.Store, profile string) error {
	if err := st.Delete(ctx, profile, keystore.RoleSessionItem); err != nil {
		return fmt.Errorf("remove cached role session of profile %s: %w", profile, err)
	}
	return nil
}
