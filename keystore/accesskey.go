package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// AccessKey is an IAM user's long-term access key pair.
//
// Its String, GoString, Format and LogValue methods never show the secret
// access key, so an AccessKey may be printed and logged.
type AccessKey struct {
	// AccessKeyID is the key id: AKIA followed by 16 upper-case letters or digits.
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey is the 40-character secret.
	SecretAccessKey string `json:"secret_access_key"`
	// Created is when IAM created the key, when known (zero otherwise):
	// `mfad rotate` records it, and `mfad list` shows the key's age from it.
	Created time.Time `json:"created,omitzero"`
}

// Lengths of the two parts of a long-term access key.
const (
	accessKeyIDLen     = 20
	secretAccessKeyLen = 40
)

// Validate reports what is wrong with the key, if anything. Its errors wrap
// ErrInvalidAccessKey and never repeat either part of the key, since a
// secret pasted into the wrong field would otherwise end up on screen or in
// a log.
func (k AccessKey) Validate() error {
	return errors.Join(validateKeyID(k.AccessKeyID), validateSecret(k.SecretAccessKey))
}

func validateKeyID(id string) error {
	const want = "access key id must be AKIA followed by 16 upper-case letters or digits"
	fail := func(why string) error {
		return fmt.Errorf("%w: %s (%s)", ErrInvalidAccessKey, want, why)
	}
	switch {
	case id == "":
		return fail("it is empty")
	case strings.TrimSpace(id) != id:
		return fail("it has leading or trailing white space")
	case len(id) != accessKeyIDLen:
		if looksLikeSecret(id) {
			return fail("got 40 characters, the length of a secret access key: are the id and the secret swapped?")
		}
		return fail(fmt.Sprintf("got %d characters", len(id)))
	case strings.HasPrefix(id, "ASIA"):
		return fail("it starts with ASIA, which marks temporary credentials: give the long-term key of an IAM user")
	case !strings.HasPrefix(id, "AKIA"):
		return fail("it does not start with AKIA")
	}
	for i := 4; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fail(fmt.Sprintf("character %d is not an upper-case letter or digit", i+1))
		}
	}
	return nil
}

func validateSecret(secret string) error {
	const want = "secret access key must be 40 characters of A-Z, a-z, 0-9, '/' and '+'"
	fail := func(why string) error {
		return fmt.Errorf("%w: %s (%s)", ErrInvalidAccessKey, want, why)
	}
	switch {
	case secret == "":
		return fail("it is empty")
	case strings.TrimSpace(secret) != secret:
		return fail("it has leading or trailing white space")
	case len(secret) != secretAccessKeyLen:
		if looksLikeKeyID(secret) {
			return fail("it looks like an access key id: are the id and the secret swapped?")
		}
		return fail(fmt.Sprintf("got %d characters", len(secret)))
	}
	for i := 0; i < len(secret); i++ {
		if !secretByte(secret[i]) {
			return fail(fmt.Sprintf("character %d is not allowed", i+1))
		}
	}
	return nil
}

func secretByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '+'
}

// looksLikeSecret reports whether s has the shape of a secret access key.
func looksLikeSecret(s string) bool {
	if len(s) != secretAccessKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !secretByte(s[i]) {
			return false
		}
	}
	return true
}

// looksLikeKeyID reports whether s has the shape of a long-term access key id.
func looksLikeKeyID(s string) bool {
	if len(s) != accessKeyIDLen || !strings.HasPrefix(s, "AKIA") {
		return false
	}
	for i := 4; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shownID is the key id as String and LogValue show it: the id itself when
// it has the shape of one, otherwise only a description, in case a secret was
// put in the id field.
func (k AccessKey) shownID() string {
	if k.AccessKeyID == "" {
		return "(no id)"
	}
	if !looksLikeKeyID(k.AccessKeyID) {
		return fmt.Sprintf("(malformed id, %d characters)", len(k.AccessKeyID))
	}
	return k.AccessKeyID
}

// String describes the key by its id; the secret is never shown.
func (k AccessKey) String() string {
	secret := "no secret"
	if k.SecretAccessKey != "" {
		secret = "secret redacted"
	}
	return fmt.Sprintf("access key %s (%s)", k.shownID(), secret)
}

// GoString is like String, so %#v shows no secret either.
func (k AccessKey) GoString() string { return k.String() }

// Format prints String for every verb (including %d, %x and %+v, which would
// otherwise print the struct's fields), so no format can show the secret.
func (k AccessKey) Format(f fmt.State, verb rune) {
	s := k.String()
	if verb == 'q' {
		s = fmt.Sprintf("%q", s)
	}
	_, _ = io.WriteString(f, s)
}

// LogValue logs the key id and whether a secret is set, never the secret.
func (k AccessKey) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", k.shownID()),
		slog.Bool("has_secret", k.SecretAccessKey != ""),
	)
}

// GetAccessKey reads and checks the long-term access key of profile.
// It returns an error wrapping ErrNotFound when the profile has none.
func GetAccessKey(ctx context.Context, s Store, profile string) (AccessKey, error) {
	raw, err := s.Get(ctx, profile, AccessKeyItem)
	if err != nil {
		return AccessKey{}, err
	}
	defer clear(raw)
	var k AccessKey
	if err := json.Unmarshal(raw, &k); err != nil {
		// The decoder's message may quote the stored bytes: report only where
		// the problem is.
		where := ""
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			where = fmt.Sprintf(" (syntax error at byte %d)", syn.Offset)
		}
		return AccessKey{}, fmt.Errorf("the access key of profile %q in the %s keystore is not valid JSON%s: add the key again with `mfad add %s`",
			profile, s.Backend(), where, profile)
	}
	if err := k.Validate(); err != nil {
		return AccessKey{}, fmt.Errorf("the access key of profile %q in the %s keystore is invalid: add the key again with `mfad add %s`: %w",
			profile, s.Backend(), profile, err)
	}
	return k, nil
}

// PutAccessKey checks k and stores it as the long-term access key of profile.
func PutAccessKey(ctx context.Context, s Store, profile string, k AccessKey) error {
	if err := ValidateProfileName(profile); err != nil {
		return err
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("cannot store the access key of profile %q: %w", profile, err)
	}
	raw, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("cannot encode the access key of profile %q: %w", profile, err)
	}
	defer clear(raw)
	return s.Set(ctx, profile, AccessKeyItem, raw)
}

// RemoveProfile deletes every item of profile. Nothing is deleted when an
// item cannot be read. When the profile had no item at all it returns an
// error wrapping ErrNotFound.
func RemoveProfile(ctx context.Context, s Store, profile string) error {
	if err := ValidateProfileName(profile); err != nil {
		return err
	}
	var present []Item
	for _, item := range Items() {
		v, err := s.Get(ctx, profile, item)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("cannot remove profile %q: %w", profile, err)
		}
		clear(v)
		present = append(present, item)
	}
	if len(present) == 0 {
		return fmt.Errorf("profile %q has nothing in the %s keystore: %w", profile, s.Backend(), ErrNotFound)
	}
	for _, item := range present {
		if err := s.Delete(ctx, profile, item); err != nil {
			return fmt.Errorf("cannot remove profile %q: %w", profile, err)
		}
	}
	return nil
}
