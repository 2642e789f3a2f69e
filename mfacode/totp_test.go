package mfacode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const testSecret = "JBSWY3DPEHPK3PXP"

// rfcSHA1 and rfcSHA256 are the RFC 6238 test secrets, base32-encoded.
const (
	rfcSHA1   = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	rfcSHA256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestTOTPMatchesLibrary(t *testing.T) {
	for _, at := range []time.Time{
		time.Unix(59, 0),
		time.Unix(1111111109, 0),
		time.Date(2026, 3, 1, 12, 0, 29, 999e6, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC),
	} {
		for _, in := range []string{testSecret, "jbsw y3dp-ehpk 3pxp", " JBSWY3DPEHPK3PXP==\n", "otpauth://totp/AWS:alice?secret=JBSWY3DPEHPK3PXP&issuer=AWS"} {
			src, err := NewTOTP(in, fixedClock(at))
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Code(t.Context(), Request{Profile: "work"})
			if err != nil {
				t.Fatal(err)
			}
			want, err := totp.GenerateCode(testSecret, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("at %v from %q-style input: code %s, want %s", at, strings.Fields(in)[0][:4], got, want)
			}
		}
	}
}

func TestTOTPRFCVectors(t *testing.T) {
	// RFC 6238 appendix B, last six digits of the 8-digit codes.
	for _, c := range []struct {
		secret string
		at     int64
		want   string
	}{
		{rfcSHA1, 59, "287082"},
		{rfcSHA1, 1111111109, "081804"},
		{rfcSHA1, 2000000000, "279037"},
		{"otpauth://totp/x?secret=" + rfcSHA256 + "&algorithm=SHA256", 59, "119246"},
		{"otpauth://totp/x?secret=" + rfcSHA256 + "&algorithm=sha256", 1111111109, "084774"},
	} {
		src, err := NewTOTP(c.secret, fixedClock(time.Unix(c.at, 0)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.Code(t.Context(), Request{})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("at %d: %s, want %s", c.at, got, c.want)
		}
	}
}

func TestTOTPPeriod60(t *testing.T) {
	uri := "otpauth://totp/AWS:alice?secret=" + testSecret + "&period=60&digits=6&issuer=AWS"
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a multiple of 60s
	clock := newFakeClock(base)
	src, err := NewTOTP(uri, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if src.Period() != time.Minute {
		t.Errorf("period %s, want 1m", src.Period())
	}
	first, _ := src.Code(t.Context(), Request{})
	clock.Set(base.Add(59 * time.Second))
	same, _ := src.Code(t.Context(), Request{})
	clock.Set(base.Add(60 * time.Second))
	next, _ := src.Code(t.Context(), Request{})
	want, _ := totp.GenerateCodeCustom(testSecret, base, totp.ValidateOpts{Period: 60, Digits: otp.DigitsSix})
	if first != want || same != first {
		t.Errorf("codes in one 60s step: %s, %s; want %s", first, same, want)
	}
	if next == first {
		t.Errorf("code did not change at the 60s boundary")
	}
}

func TestParseSecretRejects(t *testing.T) {
	for in, wantMsg := range map[string]string{
		"":                  "empty",
		"   ":               "empty",
		"JBSWY3DPEHPK3PX1":  "character 16 is not one of A-Z and 2-7",
		"JBSWY3DPEHPK3PXPA": "length (17 characters)",
		"JBSWY3DP":          "too short",
		"https://example.com/?secret=" + testSecret:                 "not an otpauth:// one",
		"otpauth://totp/x?secret=" + testSecret + "&digits=8":       "8-digit codes",
		"otpauth://totp/x?secret=" + testSecret + "&digits=eight":   "not a number",
		"otpauth://hotp/x?secret=" + testSecret + "&counter=1":      "hotp",
		"otpauth://totp/x?issuer=AWS":                               "no secret=",
		"otpauth://totp/x?secret=" + testSecret + "&period=0":       "period=",
		"otpauth://totp/x?secret=" + testSecret + "&period=abc":     "period=",
		"otpauth://totp/x?secret=" + testSecret + "&algorithm=SHA3": "algorithm=",
		"otpauth://totp/x?secret=" + testSecret + "&encoder=steam":  "encoding",
		"otpauth://totp/x?secret=" + testSecret + "%zz":             "not valid URL encoding",
		"otpauth://totp/%zz?secret=" + testSecret:                   "not a valid URL",
		"otpauth:totp/x?secret=" + testSecret:                       "not an otpauth://totp/ URI",
		"otpauth://totp/x?secret=" + testSecret + "0":               "character 17",
		"otpauth://totp/x?secret=JBSWY3DP":                          "too short",
	} {
		_, err := ParseSecret(in)
		if err == nil {
			t.Errorf("ParseSecret accepted a bad secret (want %q)", wantMsg)
			continue
		}
		if !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("error %q does not wrap ErrInvalidSecret", err)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("error %q lacks %q", err, wantMsg)
		}
		for _, leak := range []string{testSecret, "JBSWY3DP", "PX1", "PXPA", "%zz"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q echoes the secret", err)
			}
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	for _, in := range []string{testSecret, "otpauth://totp/AWS:alice?secret=" + testSecret + "&period=60&algorithm=SHA512"} {
		s, err := ParseSecret(in)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "any", any(s))
		//lint:ignore SA9005 the test checks that marshalling a Secret reveals nothing
		j, _ := json.Marshal(s)
		holder := struct{ S Secret }{s}
		outs := []string{
			fmt.Sprintf("%v %+v %#v %s %q %x %X %d", s, s, s, s, s, s, s, s),
			fmt.Sprintf("%v %+v %#v", holder, holder, &holder),
			fmt.Sprint(s, &s), s.String(), s.Redacted(), s.GoString(), logs.String(), string(j),
		}
		for _, out := range outs {
			if strings.Contains(out, "JBSW") || strings.Contains(out, "otpauth") {
				t.Errorf("secret shown: %s", out)
			}
		}
		if !strings.Contains(s.Redacted(), "redacted") {
			t.Errorf("Redacted() = %q", s.Redacted())
		}
	}
}

func TestSecretReveal(t *testing.T) {
	s, err := ParseSecret(" jbsw-y3dp ehpk3pxp== ")
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != testSecret {
		t.Errorf("Reveal() = %q, want the normalised secret", s.Reveal())
	}
	uri := "otpauth://totp/AWS:alice?secret=" + testSecret + "&period=60"
	s, err = ParseSecret(uri + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Reveal() != uri || s.Period() != time.Minute {
		t.Errorf("Reveal() = %q, Period() = %s", s.Reveal(), s.Period())
	}
	again, err := ParseSecret(s.Reveal())
	if err != nil || again.Period() != time.Minute {
		t.Errorf("revealed secret does not parse back: %v", err)
	}
	var zero Secret
	if _, err := zero.Code(time.Now()); err == nil {
		t.Error("zero Secret produced a code")
	}
}

func TestTOTPCancelled(t *testing.T) {
	src, err := NewTOTP(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := src.Code(ctx, Request{Profile: "work"}); err == nil {
		t.Error("code produced for a cancelled context")
	}
	if src.Name() != "totp" {
		t.Errorf("Name() = %q", src.Name())
	}
}
