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
	codeFile := filepath.Join(dir, "code")
	script := filepath.Join(dir, "ykman")
	// mfa_process records its environment and prints the code the test
	// left for it. The profile is unlocked through it, so the daemon runs
	// it at once: no code was used for the device before, hence no TOTP
	// step to wait for.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > "+envFile+".tmp && mv "+envFile+".tmp "+envFile+"\ncat "+codeFile+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withProcess := strings.Replace(string(cfg), "  work:\n", "  work:\n    mfa_source: process\n    mfa_process: "+script+"\n", 1)
	if err := os.WriteFile(w.cfgPath, []byte(withProcess), 0o600); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	defer func() {
		if t.Failed() {
			t.Log(w.logs.String())
		}
	}()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code)
	if err := os.WriteFile(codeFile, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := w.must(nil, "unlock", "work"); !strings.Contains(out, "Unlocked work") {
		t.Fatalf("unlock through mfa_process said %q", out)
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("the profile was unlocked but mfa_process left no record of its environment: %v", err)
	}

	out := w.must(nil, "exec", "--profile", "work", "--", "env")
	if !strings.Contains(out, "AWS_CONTAINER_AUTHORIZATION_TOKEN=") {
		t.Fatalf("exec child's environment lacks the token:\n%s", out)
	}
	if strings.Contains(out, passphraseVar) {
		t.Error("an `mfad exec` child inherited MFAD_FILE_PASSPHRASE")
	}
	if !strings.Contains(string(env), "MFAD_PROFILE=work") {
		t.Fatalf("mfa_process environment lacks MFAD_PROFILE:\n%s", env)
	}
	if strings.Contains(string(env), passphraseVar) {
		t.Error("mfa_process inherited MFAD_FILE_PASSPHRASE")
	}
}
