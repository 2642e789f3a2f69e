package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backends are the keystore backends to exercise: the real Secret Service
// when one is reachable (always in CI), and the encrypted file.
func backends(t *testing.T) []string {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no D-Bus session: run the tests through scripts/test")
		}
		t.Log("no Secret Service reachable: testing the file backend only (run scripts/test for both)")
		return []string{"file"}
	}
	return []string{"os", "file"}
}

func TestProfileRoundTripAndBadInput(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			w := newWorldBackend(t, backend)
			key := []byte(w.user.AccessKeyID + "\n" + w.user.SecretAccessKey + "\n")
			fail := func(stdin []byte, want string, args ...string) {
				t.Helper()
				_, errs, err := w.run(stdin, args...)
				if err == nil || !strings.Contains(errs, want) {
					t.Fatalf("mfad %s: err %v, stderr %q, want it to say %q", strings.Join(args, " "), err, errs, want)
				}
			}
			list := func() []listRow {
				t.Helper()
				var rows []listRow
				if err := json.Unmarshal([]byte(w.must(nil, "list", "--json")), &rows); err != nil {
					t.Fatal(err)
				}
				return rows
			}
			hasKey := func(name string) bool {
				for _, r := range list() {
					if r.Profile == name && r.HasKey {
						return true
					}
				}
				return false
			}
			// Bad keys are refused before anything is stored.
			fail([]byte("AKIA123\n"+w.user.SecretAccessKey+"\n"), "AKIA followed by 16", "add", "work")
			fail([]byte(w.user.AccessKeyID+"\nshort\n"), "40 characters", "add", "work")
			fail(key, "profile name", "add", "bad name!")
			if hasKey("work") {
				t.Fatal("a rejected key was stored")
			}
			w.must(key, "add", "work")
			if !hasKey("work") {
				t.Fatal("list does not show the stored key")
			}
			out := w.must(nil, "list")
			if !strings.Contains(out, w.user.AccessKeyID) || !strings.Contains(out, "("+backend+")") {
				t.Fatalf("list: %q", out)
			}
			// A duplicate needs --force, and the old key survives a refusal.
			fail(key, "--force", "add", "work")
			w.must(key, "add", "work", "--force")
			// --mfa-serial is recorded in the configuration file.
			w.must(key, "add", "ops", "--mfa-serial", "arn:aws:iam::123456789012:mfa/ops")
			cfg, _ := os.ReadFile(w.cfgPath)
			if !strings.Contains(string(cfg), "ops:") || !strings.Contains(string(cfg), "mfa_serial: arn:aws:iam::123456789012:mfa/ops") ||
				!strings.Contains(string(cfg), "sts_endpoint:") {
				t.Fatalf("config after add --mfa-serial:\n%s", cfg)
			}
			fail(key, "mfa", "add", "ops2", "--mfa-serial", "not a serial!")
			// Remove: unknown profile, then real ones.
			fail(nil, "nothing in the", "remove", "ghost", "--force")
			w.must(nil, "remove", "ops", "--force")
			w.must(nil, "remove", "work", "--force")
			if hasKey("work") || hasKey("ops") {
				t.Fatal("removed profiles still listed with keys")
			}
			fail(nil, "terminal", "remove", "work") // no confirmation possible
		})
	}
}

type listRow struct {
	Profile string `json:"profile"`
	HasKey  bool   `json:"has_key"`
}

func TestFileStoreBadPassphraseAndCorruption(t *testing.T) {
	w := newWorldBackend(t, "file")
	key := []byte(w.user.AccessKeyID + "\n" + w.user.SecretAccessKey + "\n")
	w.must(key, "add", "work")
	store := filepath.Join(w.home, ".local", "share", "mfad", "keystore.enc")
	if fi, err := os.Stat(store); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store %s: %v %v", store, fi, err)
	}
	_, errs, err := w.runEnv([]string{"MFAD_FILE_PASSPHRASE=wrong passphrase"}, nil, "list")
	if err == nil || !strings.Contains(errs, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v %q", err, errs)
	}
	// Nothing was lost: the right passphrase still reads it.
	if out := w.must(nil, "list"); !strings.Contains(out, w.user.AccessKeyID) {
		t.Fatalf("after a wrong passphrase: %q", out)
	}
	b, _ := os.ReadFile(store)
	if err := os.WriteFile(store, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, err = w.run(nil, "list")
	if err == nil || !strings.Contains(errs, store) {
		t.Fatalf("truncated store: %v %q", err, errs)
	}
	// A write must not replace a store it cannot read.
	if _, _, err := w.run(key, "add", "other"); err == nil {
		t.Fatal("add over a corrupt store succeeded")
	}
	if now, _ := os.ReadFile(store); string(now) != string(b[:len(b)/2]) {
		t.Fatal("the corrupt store was overwritten")
	}
}

func TestConfigErrorsNameTheFileAndKey(t *testing.T) {
	w := newWorldBackend(t, "file")
	bad := filepath.Join(w.home, "bad.yaml")
	os.WriteFile(bad, []byte("profiles:\n  work:\n    session_duration: twelve\n"), 0o600)
	_, errs, err := w.runEnv([]string{"MFAD_CONFIG=" + bad}, nil, "list")
	if err == nil || !strings.Contains(errs, bad) || !strings.Contains(errs, "session_duration") {
		t.Fatalf("bad type: %v %q", err, errs)
	}
	os.WriteFile(bad, []byte("profiles:\n  work:\n    mfa_serail: x\n"), 0o600)
	_, errs, err = w.runEnv([]string{"MFAD_CONFIG=" + bad}, nil, "list")
	if err == nil || !strings.Contains(errs, "mfa_serial") {
		t.Fatalf("unknown key: %v %q", err, errs)
	}
	dir := filepath.Join(w.home, "a-directory.yaml")
	os.Mkdir(dir, 0o700)
	_, errs, err = w.runEnv([]string{"MFAD_CONFIG=" + dir}, nil, "list")
	if err == nil || !strings.Contains(errs, dir) {
		t.Fatalf("unreadable config: %v %q", err, errs)
	}
	_, errs, err = w.runEnv([]string{"MFAD_CONFIG=" + filepath.Join(w.home, "missing.yaml")}, nil, "list")
	if err == nil || !strings.Contains(errs, "missing.yaml") {
		t.Fatalf("missing config: %v %q", err, errs)
	}
}
