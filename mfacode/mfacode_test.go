package mfacode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	now := fixedClock(time.Unix(59, 0))
	for _, c := range []struct {
		cfg      Config
		wantName string
		wantErr  string
	}{
		{Config{}, "prompt", ""},
		{Config{Source: "prompt", Dialog: "auto"}, "prompt", ""},
		{Config{Source: "process", Process: "ykman oath accounts code --single AWS"}, "process", ""},
		{Config{Source: "totp", TOTPSecret: rfcSHA1, Now: now}, "totp", ""},
		{Config{Source: "sms"}, "", `mfa_source "sms" is unknown: use prompt, process or totp`},
		{Config{Source: "process"}, "", "mfa_source: process needs mfa_process, e.g. `ykman oath accounts code --single NAME`"},
		{Config{Source: "totp"}, "", "mfa_source: totp needs a TOTP secret: run `mfad totp set PROFILE`"},
		{Config{Source: "totp", TOTPSecret: "JBSWY3DP1"}, "", "mfad totp set PROFILE"},
		{Config{Source: "prompt", Dialog: "yad"}, "", `mfa_dialog "yad" is unknown`},
	} {
		src, err := New(c.cfg)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("New(%+v) error = %v, want %q", c.cfg, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%+v): %v", c.cfg, err)
			continue
		}
		if src.Name() != c.wantName {
			t.Errorf("New(%+v).Name() = %q, want %q", c.cfg, src.Name(), c.wantName)
		}
	}
	src, err := New(Config{Source: "TOTP", TOTPSecret: rfcSHA1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := src.Code(t.Context(), Request{}); err != nil || code != "287082" {
		t.Errorf("Code = %q, %v", code, err)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
	if err := Sleep(t.Context(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
}

// TestErrorsNeverShowSecrets gathers the errors of every failure path that
// sees a code or a secret and checks that none shows them.
func TestErrorsNeverShowSecrets(t *testing.T) {
	needUnix(t)
	const code = "314159"
	secrets := []string{testSecret, strings.ToLower(testSecret), "JBSWY3DPEHPK", rfcSHA1}
	var errs []error
	collect := func(_ any, err error) {
		if err == nil {
			t.Errorf("expected an error")
			return
		}
		errs = append(errs, err)
	}

	// Secrets, including nearly-valid ones.
	for _, in := range []string{
		testSecret + "1", testSecret + "A", "jbswy3dpehpk 3px8", testSecret[:10],
		"otpauth://totp/AWS:alice?secret=" + testSecret + "&digits=8",
		"otpauth://totp/AWS:alice?secret=" + testSecret + "&period=x",
		"otpauth://totp/AWS:alice?secret=" + testSecret + "%zz",
		"otpauth://totp/AWS%zz:alice?secret=" + testSecret,
		"otpauth://hotp/AWS:alice?secret=" + testSecret,
		"otpauth://totp/AWS:alice?secret=" + rfcSHA1 + "&algorithm=SHA3",
		"https://evil/?secret=" + testSecret,
	} {
		collect(ParseSecret(in))
		collect(NewTOTP(in, nil))
		collect(New(Config{Source: "totp", TOTPSecret: in}))
	}

	// Codes from processes that misbehave.
	for _, script := range []string{
		`echo ` + code + `0`,
		`echo ` + code + `; echo ` + code,
		`echo x` + code,
		`echo 'failed with ` + code + ` ` + testSecret + `' >&2; exit 2`,
		`echo ` + code + `; exec sleep 30`,
	} {
		collect(runProcess(t, script, 200*time.Millisecond))
	}

	// Codes typed into dialogs.
	fd := newFakeDesktop(t)
	fd.add("zenity", `echo `+code+`7`)
	collect(NewPrompt(PromptOptions{Dialog: &DesktopDialog{Program: "zenity"}}).Code(t.Context(), workRequest()))
	fd.add("kdialog", `echo "stderr `+code+`" >&2; exit 3`)
	collect(NewPrompt(PromptOptions{Dialog: &DesktopDialog{Program: "kdialog"}}).Code(t.Context(), workRequest()))
	fd.add("notify-send", `echo "no bus `+code+`" >&2; exit 1`)
	collect(nil, (&DesktopNotifier{GOOS: "linux"}).Notify(t.Context(), "mfad", "body"))

	// A reused code.
	g := NewOnceGuard(nil, nil)
	g.UsedCode(serial, code, time.Now())
	collect(nil, g.CheckHuman(serial, code, time.Now()))

	for _, err := range errs {
		msg := err.Error()
		for _, s := range append(secrets, code) {
			if strings.Contains(msg, s) {
				t.Errorf("error %q shows a secret or code", msg)
			}
		}
		// Unwrapped causes must not show them either.
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			for _, s := range append(secrets, code) {
				if strings.Contains(e.Error(), s) {
					t.Errorf("cause %q of %q shows a secret or code", e, msg)
				}
			}
		}
	}
	if len(errs) < 40 {
		t.Errorf("only %d errors gathered", len(errs))
	}
}
