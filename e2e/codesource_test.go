package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestHelperTOTPCode is not a test: run as mfa_process, it counts its runs
// in $E2E_COUNT_FILE and prints the current code of the secret in
// $E2E_SECRET_FILE, as a YubiKey would after a touch.
func TestHelperTOTPCode(t *testing.T) {
	if os.Getenv("MFAD_E2E_HELPER") != "1" {
		t.Skip("helper process for the end-to-end tests")
	}
	f, err := os.OpenFile(os.Getenv("E2E_COUNT_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Fprintln(f, time.Now().Format(time.RFC3339Nano))
	f.Close()
	secret, err := os.ReadFile(os.Getenv("E2E_SECRET_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	code, err := totp.GenerateCodeCustom(strings.TrimSpace(string(secret)), time.Now(),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println(code)
	os.Exit(0)
}

// runs counts mfa_process runs recorded in file.
func runs(file string) int {
	b, _ := os.ReadFile(file)
	return strings.Count(string(b), "\n")
}

// setProfileKeys appends keys to profile work in the mfad configuration.
func (w *world) setWorkKeys(keys string) {
	w.t.Helper()
	b, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "    region: eu-west-1\n", "    region: eu-west-1\n"+keys, 1)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// timedFetch fetches url as an SDK does and returns the status and how
// long the endpoint took to answer.
func timedFetch(t *testing.T, url, token string) (int, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// TestLockedProcessProfileAsksTheYubiKey: a profile with mfa_source
// process, locked by `mfad lock`. The first SDK fetch answers at once, the
// daemon runs mfa_process once (the touch), and a fetch within 35 s gets
// credentials with no `mfad unlock`.
func TestLockedProcessProfileAsksTheYubiKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	exe, _ := os.Executable()
	secretFile := filepath.Join(w.home, "yubikey-secret")
	countFile := filepath.Join(w.home, "mfa-process-runs")
	if err := os.WriteFile(secretFile, []byte(w.user.TOTPSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	w.setWorkKeys(fmt.Sprintf("    mfa_source: process\n    mfa_process: env MFAD_E2E_HELPER=1 E2E_SECRET_FILE=%s E2E_COUNT_FILE=%s %s -test.run=^TestHelperTOTPCode$\n",
		secretFile, countFile, exe))
	w.startDaemon()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")

	// `mfad unlock` with no terminal and no code: the configured source.
	out, errs, err := w.run(nil, "unlock", "work")
	if err != nil || !strings.Contains(out, "Unlocked work") || !strings.Contains(errs, "mfa_process") {
		t.Fatalf("unlock from mfa_process: %v %q %q\n%s", err, out, errs, w.logs.String())
	}
	if n := runs(countFile); n != 1 {
		t.Fatalf("mfa_process ran %d times for the unlock", n)
	}
	env := w.envVars("admin")
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	if code, _ := timedFetch(t, url, tok); code != 200 {
		t.Fatalf("fetch after unlock: %d", code)
	}

	w.must(nil, "lock", "work")
	locked := time.Now()
	code, took := timedFetch(t, url, tok)
	if code == 200 || took > 2*time.Second {
		t.Fatalf("the first fetch after the lock: %d after %v", code, took)
	}
	t.Logf("the first fetch after the lock: %d in %v", code, took)
	// Later fetches get credentials once the touch is done — the code must
	// be of a new 30-second step, as AWS accepts each code once.
	for {
		code, took := timedFetch(t, url, tok)
		if took > 2*time.Second {
			t.Fatalf("a fetch waited %v", took)
		}
		if code == 200 {
			t.Logf("credentials served %v after the lock", time.Since(locked).Round(time.Millisecond))
			break
		}
		if time.Since(locked) > 35*time.Second {
			t.Fatalf("no credentials 35 s after the lock: %d\n%s", code, w.logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	// An SDK client gets them too.
	cmd := append([]string{"exec", "--profile", "admin", "--"}, helperArgs()...)
	if id := parseIdentity(t, w.must(nil, cmd...)); !strings.Contains(id.Arn, ":assumed-role/admin/") {
		t.Fatalf("SDK after the touch: %+v", id)
	}
	if n := runs(countFile); n != 2 {
		t.Fatalf("mfa_process ran %d times in all, want 2 (the unlock, then once after the lock)", n)
	}
}

// TestLockedTOTPProfileStaysLocked: mfa_source totp has no person in the
// loop, so `mfad lock` holds until `mfad unlock`, which needs no code typed.
func TestLockedTOTPProfileStaysLocked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.setWorkKeys("    mfa_source: totp\n")
	w.startDaemon()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	w.must([]byte(w.emu.OTPURI(w.user)+"\n"), "totp", "set", "work")

	if out := w.must(nil, "unlock", "work"); !strings.Contains(out, "Unlocked work") {
		t.Fatalf("unlock from totp: %q", out)
	}
	w.must(nil, "lock", "work")
	calls := len(w.emu.Calls())
	env := w.envVars("work")
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	for range 5 {
		if code, took := timedFetch(t, url, tok); code == 200 || took > 2*time.Second {
			t.Fatalf("a locked totp profile: %d after %v", code, took)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := len(w.emu.Calls()); n != calls {
		t.Fatalf("the locked totp profile called STS %d times", n-calls)
	}
	if out, _, _ := w.run(nil, "status", "--short"); !strings.Contains(out, "work:locked") {
		t.Fatalf("status after the fetches: %q", out)
	}
	// `mfad unlock`, no code typed (stdin is not even a terminal).
	out, errs, err := w.run(nil, "unlock", "work")
	if err != nil || !strings.Contains(out, "Unlocked work") {
		t.Fatalf("unlock after the lock: %v %q %q", err, out, errs)
	}
	if code, _ := timedFetch(t, url, tok); code != 200 {
		t.Fatalf("fetch after unlock: %d", code)
	}
	// `mfad exec` on the locked profile, with no terminal: the source too.
	w.must(nil, "lock", "work")
	marker := filepath.Join(w.home, "ran")
	if out, errs, err := w.run(nil, "exec", "--profile", "work", "--", "touch", marker); err != nil {
		t.Fatalf("exec on a locked totp profile: %v %q %q", err, out, errs)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("exec did not run the command")
	}
}
