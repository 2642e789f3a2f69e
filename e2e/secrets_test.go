package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// passphraseVar is the one environment variable that holds a secret of
// mfad's: the keystore file's passphrase.
const passphraseVar = "MFAD_FILE_PASSPHRASE="

// TestChildrenGetNoSecret runs the daemon on the encrypted file keystore,
// with its passphrase in the environment, and checks that neither a
// command run by `mfad exec` nor the daemon's mfa_process sees it.
func TestChildrenGetNoSecret(t *testing.T) {
	w := newWorldBackend(t, "file")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "mfa-process-env")
	script := filepath.Join(dir, "ykman")
	// The daemon asks mfa_process for a code half-way through the 1-minute
	// window (mfa_max_age 1m, mfa_lead 58s, but never sooner than half the
	// session's useful life); it records its environment and prints no
	// code.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > "+envFile+".tmp && mv "+envFile+".tmp "+envFile+"\necho no code\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withProcess := strings.Replace(string(cfg), "  work:\n", "  work:\n    mfa_source: process\n    mfa_process: "+script+"\n    mfa_max_age: 1m\n    mfa_lead: 58s\n", 1)
	if err := os.WriteFile(w.cfgPath, []byte(withProcess), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	w.addAndUnlock()

	out := w.must(nil, "exec", "--profile", "work", "--", "env")
	if !strings.Contains(out, "AWS_CONTAINER_AUTHORIZATION_TOKEN=") {
		t.Fatalf("exec child's environment lacks the token:\n%s", out)
	}
	if strings.Contains(out, passphraseVar) {
		t.Error("an `mfad exec` child inherited MFAD_FILE_PASSPHRASE")
	}

	var env []byte
	defer func() {
		if t.Failed() {
			t.Log(w.logs.String())
		}
	}()
	// mfa_process runs once the window is due and the 30-second step of
	// the code used to unlock has passed (a code is never asked for twice
	// in one step).
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if env, err = os.ReadFile(envFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not run mfa_process within 45 s")
		}
	}
	if !strings.Contains(string(env), "MFAD_PROFILE=work") {
		t.Fatalf("mfa_process environment lacks MFAD_PROFILE:\n%s", env)
	}
	if strings.Contains(string(env), passphraseVar) {
		t.Error("mfa_process inherited MFAD_FILE_PASSPHRASE")
	}
}
