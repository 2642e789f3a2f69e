package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/mfacode"
	"github.com/c0950fac/mfad/policy"
)

func TestTOTPSourceRenewsWindowsWithNoHuman(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFAMaxAge = time.Hour
	e.Config.Profiles["work"].MFASource = configs.MFASourceTOTP
	src, err := mfacode.New(mfacode.Config{Source: mfacode.SourceTOTP, TOTPSecret: e.Emu.OTPURI(e.User), Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		e.Clock.Advance(45 * time.Minute)
		testenv.WaitFor(t, "a TOTP unlock", func() bool { return e.Count("GetSessionToken") >= 1+i })
		testenv.WaitFor(t, "the new window", func() bool {
			c, err := d.Credentials(ctx, "work")
			return err == nil && c.Expiration.Sub(e.Clock.Now()) > 55*time.Minute
		})
	}
	// Codes are never reused or wrong. (A role renewal in flight while the
	// test jumps the fake clock can meet a signature-time error; it is
	// retried, and is not what this test is about.)
	for _, c := range e.Emu.Calls() {
		if c.Action == "GetSessionToken" && c.ErrorCode != "" {
			t.Fatalf("STS said %s to %s: a code was reused or wrong", c.ErrorCode, c.Action)
		}
	}
}

func TestProcessSourceRenewsWithNoHuman(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFAMaxAge = time.Hour
	// mfa_process prints what a YubiKey would: the current code, which the
	// test keeps in a file; the script also records its environment.
	dir := t.TempDir()
	codeFile := filepath.Join(dir, "code")
	envFile := filepath.Join(dir, "env")
	script := filepath.Join(dir, "ykman")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$MFAD_PROFILE $MFAD_MFA_SERIAL\" > "+envFile+"\ncat "+codeFile+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := e.Config.Profiles["work"]
	p.MFASource, p.MFAProcess, p.MFAProcessTimeout = configs.MFASourceProcess, script, 10*time.Second
	src, err := mfacode.New(mfacode.Config{Source: p.MFASource, Process: p.MFAProcess, ProcessTimeout: p.MFAProcessTimeout, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		// The code valid once the lead is reached.
		next := e.Clock.Now().Add(45 * time.Minute)
		if err := os.WriteFile(codeFile, []byte(e.Emu.Code(e.User, next)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.Clock.Set(next)
		testenv.WaitFor(t, "a process unlock", func() bool { return e.Count("GetSessionToken") >= 1+i })
		testenv.WaitFor(t, "a fresh role session", func() bool {
			st := d.Status("admin")[0]
			return st.MFAAgeSeconds < 60 && st.ServedExpiration.Sub(e.Clock.Now()) > 55*time.Minute
		})
	}
	b, _ := os.ReadFile(envFile)
	if got := strings.TrimSpace(string(b)); got != "work "+e.User.MFASerial {
		t.Fatalf("mfa_process saw MFAD_PROFILE MFAD_MFA_SERIAL = %q", got)
	}
	// A process printing nothing usable: the old session is served, the
	// error shows in status, and the daemon retries with backoff.
	if err := os.WriteFile(codeFile, []byte("not a code\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(45 * time.Minute)
	testenv.WaitFor(t, "the code-source error in status", func() bool { return d.Status("work")[0].LastError != "" })
	st := d.Status("work")[0]
	if !st.NeedCode || !strings.Contains(st.LastError, "6-digit") || st.NextRefresh.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if _, err := d.Credentials(ctx, "admin"); err != nil {
		t.Fatalf("old session not served: %v", err)
	}
}

func TestPolicyFilesSuggestMaxAge(t *testing.T) {
	e := testenv.New(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
	 "Condition":{"NumericGreaterThanIfExists":{"aws:MultiFactorAuthAge":"3600"}}}]}`
	f := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Config.Profiles["work"].PolicyFiles = []string{f}
	d, err := newDaemonWith(t, e, func(o *daemonOptions) {
		o.SuggestMaxAge = func(p *configs.Profile) (time.Duration, bool) {
			var docs []*policy.Document
			for _, f := range p.PolicyFiles {
				d, err := policy.ParseFile(f)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, d)
			}
			return policy.SuggestMaxAge(docs)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Status("work")[0]; st.SuggestedMFAMaxAgeSeconds != 3600 {
		t.Fatalf("suggested %d", st.SuggestedMFAMaxAgeSeconds)
	}
	// Once mfa_max_age is set, nothing is suggested.
	e.Config.Profiles["work"].MFAMaxAge = time.Hour
	d2, _ := newDaemonWith(t, e, func(o *daemonOptions) {
		o.SuggestMaxAge = func(*configs.Profile) (time.Duration, bool) { return time.Hour, true }
	})
	if st := d2.Status("work")[0]; st.SuggestedMFAMaxAgeSeconds != 0 {
		t.Fatalf("suggested %d with mfa_max_age set", st.SuggestedMFAMaxAgeSeconds)
	}
}
