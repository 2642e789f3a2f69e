package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/mfacode"
)

// TestDaemonAsksForCodeInDesktopDialog runs the daemon's prompt path as
// `mfad daemon` wires it (codeSource): when the MFA window nears, the daemon
// announces through notify-send, asks through zenity, and unlocks with the
// code typed there — no `mfad unlock`. Both programs are stand-ins on PATH.
func TestDaemonAsksForCodeInDesktopDialog(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses /bin/sh stand-ins for zenity and notify-send")
	}
	e := testenv.New(t)
	work := e.Config.Profiles["work"]
	work.MFAMaxAge = time.Hour
	work.MFASource = configs.MFASourcePrompt
	work.MFADialog = mfacode.DialogZenity

	bin := t.TempDir()
	codeFile := filepath.Join(bin, "code")
	zenityArgs := filepath.Join(bin, "zenity.args")
	notifyArgs := filepath.Join(bin, "notify-send.args")
	script := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// zenity prints what the person types; here, the code the test put in
	// the file.
	script("zenity", `printf '%s\n' "$*" >>'`+zenityArgs+`'
cat '`+codeFile+`'`)
	script("notify-send", `printf '%s\n' "$*" >>'`+notifyArgs+`'`)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	d, err := daemon.New(daemon.Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger,
		CodeSource: codeSource(e.Store, e.Logger, nil),
		Guard: mfacode.NewOnceGuard(e.Clock.Now, func(ctx context.Context, d time.Duration) error {
			e.Clock.Advance(d)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	first, err := d.Credentials(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}

	// 15 minutes (mfa_lead) before the 1-hour window closes, the daemon
	// asks; the person types the code valid then.
	askAt := testenv.Start.Add(45 * time.Minute)
	code := e.Emu.Code(e.User, askAt)
	if err := os.WriteFile(codeFile, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(askAt)
	testenv.WaitFor(t, "a new MFA session from the dialog's code", func() bool { return e.Count("GetSessionToken") == 2 })
	testenv.WaitFor(t, "the new session served", func() bool {
		st := d.Status("work")[0]
		return st.Unlocked && !st.NeedCode && st.MFAAt.Equal(askAt)
	})
	c, err := d.Credentials(ctx, "work")
	if err != nil || c.AccessKeyID == first.AccessKeyID || !c.Expiration.Equal(askAt.Add(time.Hour)) {
		t.Fatalf("after the dialog: %v %v (first %s)", c, err, first.AccessKeyID)
	}

	notified := readTestFile(t, notifyArgs)
	for _, want := range []string{"--app-name=mfad", "Profile work needs a new MFA code — enter it in the dialog or run `mfad unlock work`", "MFA window"} {
		if !strings.Contains(notified, want) {
			t.Errorf("notify-send got %q; want %q in it", notified, want)
		}
	}
	asked := readTestFile(t, zenityArgs)
	for _, want := range []string{"--entry --hide-text", "MFA code for profile work (" + e.User.MFASerial + ")"} {
		if !strings.Contains(asked, want) {
			t.Errorf("zenity got %q; want %q in it", asked, want)
		}
	}
	testenv.AssertNoSecret(t, "the programs' arguments", notified+asked, code)
	testenv.AssertNoSecret(t, "the daemon log", e.Log.String(), append(e.Secrets(), code)...)
	// The dialog's code was accepted first time. (A role renewal in flight
	// while the test jumps the fake clock can meet a signature-time error;
	// it is retried, and is not what this test is about.)
	for _, call := range e.Emu.Calls() {
		if call.Action == "GetSessionToken" && call.ErrorCode != "" {
			t.Errorf("STS error %s on %s", call.ErrorCode, call.Action)
		}
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
