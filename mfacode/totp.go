package mfacode

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// ErrInvalidSecret is wrapped by every error ParseSecret returns.
var ErrInvalidSecret = errors.New("invalid TOTP secret")

// minSecretBytes is the shortest secret accepted (80 bits, as RFC 4226 allows
// at the least; AWS's virtual devices use 320).
const minSecretBytes = 10

// maxPeriod is the longest TOTP step accepted from an otpauth URI.
const maxPeriod = 3600

// Secret is a validated TOTP secret with its parameters. Printing or
// logging it shows only a redacted description; Reveal returns the secret
// for storage in the keystore.
type Secret struct {
	key       string // normalised, unpadded base32
	uri       string // the otpauth URI it came from, if any
	period    uint
	algorithm otp.Algorithm
}

// ParseSecret validates a TOTP secret as read by `mfad totp set`: a base32
// secret (case, spaces and dashes do not matter) or an otpauth://totp/ URI,
// whose period and algorithm are honoured. Only 6-digit codes are accepted,
// as AWS accepts no others. Errors say what is wrong without showing the
// secret.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Secret{}, secretError("the TOTP secret is empty: paste the secret key or otpauth:// URI shown when the virtual MFA device was set up")
	}
	if len(s) >= len("otpauth:") && strings.EqualFold(s[:len("otpauth:")], "otpauth:") {
		return parseURI(s)
	}
	if strings.Contains(s, "://") {
		return Secret{}, secretError("the TOTP secret looks like a URI but is not an otpauth:// one: paste the otpauth://totp/ URI or the base32 secret key")
	}
	key, err := normaliseBase32(s)
	if err != nil {
		return Secret{}, err
	}
	return Secret{key: key, period: 30, algorithm: otp.AlgorithmSHA1}, nil
}

// parseURI validates an otpauth:// URI.
func parseURI(s string) (Secret, error) {
	// The parser's own errors quote the URI, secret included, so they are
	// replaced rather than wrapped.
	u, err := url.Parse(s)
	if err != nil {
		return Secret{}, secretError("the otpauth URI is not a valid URL: check that it was copied whole")
	}
	k, err := otp.NewKeyFromURL(s)
	if err != nil {
		return Secret{}, secretError("the otpauth URI is not a valid URL: check that it was copied whole")
	}
	if t := strings.ToLower(k.Type()); t != "totp" {
		if t == "hotp" {
			return Secret{}, secretError("the otpauth URI is for counter-based (hotp) codes: AWS needs a time-based (otpauth://totp/) secret")
		}
		return Secret{}, secretError("the otpauth URI is not an otpauth://totp/ URI")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Secret{}, secretError("the otpauth URI's parameters are not valid URL encoding: check that it was copied whole")
	}
	if q.Get("secret") == "" {
		return Secret{}, secretError("the otpauth URI has no secret= parameter: check that it was copied whole")
	}
	if d := q.Get("digits"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return Secret{}, secretError("the otpauth URI's digits= parameter is not a number")
		}
		if n != 6 {
			return Secret{}, secretError(fmt.Sprintf("the otpauth URI asks for %d-digit codes: AWS accepts only 6-digit codes, so this secret cannot be used with AWS", n))
		}
	}
	if p := q.Get("period"); p != "" {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n == 0 || n > maxPeriod {
			return Secret{}, secretError(fmt.Sprintf("the otpauth URI's period= parameter must be a number of seconds from 1 to %d", maxPeriod))
		}
	}
	switch a := strings.ToUpper(q.Get("algorithm")); a {
	case "", "SHA1", "SHA256", "SHA512", "MD5":
	default:
		return Secret{}, secretError("the otpauth URI's algorithm= parameter must be SHA1, SHA256 or SHA512")
	}
	if e := q.Get("encoder"); e != "" {
		return Secret{}, secretError("the otpauth URI asks for a non-standard code encoding: AWS accepts only 6-digit codes")
	}
	key, err := normaliseBase32(k.Secret())
	if err != nil {
		return Secret{}, err
	}
	return Secret{key: key, uri: s, period: uint(k.Period()), algorithm: k.Algorithm()}, nil
}

// normaliseBase32 uppercases s, drops spaces, dashes and padding, and checks
// that it decodes to a secret of a plausible length.
func normaliseBase32(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	key := strings.TrimRight(b.String(), "=")
	if key == "" {
		return "", secretError("the TOTP secret is empty: paste the secret key or otpauth:// URI shown when the virtual MFA device was set up")
	}
	for i, r := range key {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return "", secretError(fmt.Sprintf("the TOTP secret is not base32: character %d is not one of A-Z and 2-7 (base32 has no 0, 1, 8 or 9): check that it was copied whole and unchanged", i+1))
		}
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if n := len(key) % 8; err != nil || n == 1 || n == 3 || n == 6 {
		return "", secretError(fmt.Sprintf("the TOTP secret is not valid base32: its length (%d characters) is impossible for base32: check that it was copied whole", len(key)))
	}
	if len(raw) < minSecretBytes {
		return "", secretError(fmt.Sprintf("the TOTP secret is too short (%d characters; at least %d expected): check that it was copied whole", len(key), (minSecretBytes*8+4)/5))
	}
	return key, nil
}

func secretError(msg string) error {
	return &msgError{msg: msg, err: ErrInvalidSecret}
}

// IsZero reports whether s holds no secret.
func (s Secret) IsZero() bool { return s.key == "" }

// Period returns the TOTP step.
func (s Secret) Period() time.Duration { return time.Duration(s.period) * time.Second }

// Redacted describes the secret without showing it.
func (s Secret) Redacted() string {
	if s.IsZero() {
		return "TOTP secret (none)"
	}
	if s.period == 30 && s.algorithm == otp.AlgorithmSHA1 {
		return "TOTP secret (redacted)"
	}
	return fmt.Sprintf("TOTP secret (redacted; %s, %ds steps)", s.algorithm, s.period)
}

// String returns Redacted.
func (s Secret) String() string { return s.Redacted() }

// GoString returns Redacted, so %#v does not show the secret either.
func (s Secret) GoString() string { return s.Redacted() }

// Format writes Redacted whatever the verb, so no fmt verb shows the secret.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.Redacted())) }

// LogValue returns Redacted, so log lines never show the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Redacted()) }

// Reveal returns the secret for storage in the keystore: the otpauth URI it
// was given as, or the normalised base32 secret. Never print or log it.
func (s Secret) Reveal() string {
	if s.uri != "" {
		return s.uri
	}
	return s.key
}

// Code returns the 6-digit code for time t.
func (s Secret) Code(t time.Time) (string, error) {
	if s.IsZero() {
		return "", errors.New("no TOTP secret: run `mfad totp set PROFILE`")
	}
	code, err := totp.GenerateCodeCustom(s.key, t, totp.ValidateOpts{
		Period:    s.period,
		Digits:    otp.DigitsSix,
		Algorithm: s.algorithm,
	})
	if err != nil {
		return "", fmt.Errorf("computing the TOTP code: %w", err)
	}
	if !isCode(code) {
		return "", errors.New("computing the TOTP code gave no 6-digit code")
	}
	return code, nil
}

// TOTP is the "totp" source: it computes codes from a secret kept in the
// keystore (opt-in, as it puts both factors on one machine).
type TOTP struct {
	secret Secret
	now    func() time.Time
}

// NewTOTP returns a source for secret, a base32 secret or an otpauth://totp/
// URI (see ParseSecret). now is the clock (default time.Now).
func NewTOTP(secret string, now func() time.Time) (*TOTP, error) {
	s, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &TOTP{secret: s, now: now}, nil
}

// Name returns "totp".
func (t *TOTP) Name() string { return SourceTOTP }

// Period returns the secret's TOTP step; OnceGuard uses it.
func (t *TOTP) Period() time.Duration { return t.secret.Period() }

// Code returns the code for the current time.
func (t *TOTP) Code(ctx context.Context, req Request) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("TOTP code for profile %s: %w", req.Profile, err)
	}
	code, err := t.secret.Code(t.now())
	if err != nil {
		return "", fmt.Errorf("profile %s: %w", req.Profile, err)
	}
	return code, nil
}
