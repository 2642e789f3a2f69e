package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// without returns env without the variables named.
func without(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			if k == n {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// serviceCommand returns the command line and environment of the systemd
// unit `mfad service install --dry-run` writes, with what the user manager
// adds (HOME): how the service would start the daemon.
func serviceCommand(t *testing.T, w *world) (args, env []string) {
	t.Helper()
	out := w.must(nil, "service", "install", "--profile", "work", "--dry-run")
	env = []string{"HOME=" + w.home}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "ExecStart="):
			args = strings.Fields(strings.TrimPrefix(line, "ExecStart="))
		case strings.HasPrefix(line, "Environment="):
			v, err := strconv.Unquote(strings.TrimPrefix(line, "Environment="))
			if err != nil {
				t.Fatalf("unit line %q: %v", line, err)
			}
			env = append(env, v)
		}
	}
	if len(args) != 2 || args[0] != w.bin || args[1] != "daemon" {
		t.Fatalf("ExecStart of the unit: %q\n%s", args, out)
	}
	return args, env
}

// TestHeadlessDaemonWaitsForThePassphrase runs the daemon as the systemd
// unit of `mfad service install` does, as `mfad daemon &` would: keyring
// backend auto with no OS keyring to answer, no terminal and no passphrase
// in its environment. It starts, answers on the control socket, and serves
// once `mfad unlock` has given the keystore file's passphrase.
func TestHeadlessDaemonWaitsForThePassphrase(t *testing.T) {
	w := newWorldBackend(t, "auto")
	// No session bus: no OS keyring answers, and auto falls back to the
	// encrypted file.
	w.env = without(w.env, "DBUS_SESSION_BUS_ADDRESS")
	w.env = append(w.env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(w.home, "no-bus"))
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	file := filepath.Join(w.home, ".local", "share", "mfad", "keystore.enc")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("auto did not fall back to the encrypted file: %v", err)
	}
	_, unitEnv := serviceCommand(t, w)
	for _, kv := range unitEnv {
		if strings.Contains(kv, "PASSPHRASE") {
			t.Fatalf("the unit sets %s", kv)
		}
	}
	// The user manager's environment: no session bus here, and this test's
	// AWS files and audit log.
	w.startDaemonEnv(append(unitEnv, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(w.home, "no-bus"),
		"AWS_CONFIG_FILE="+filepath.Join(w.home, "aws-config"), "MFAD_AUDIT_LOG="+filepath.Join(w.home, "audit.log")))

	var st struct {
		Keystore       string `json:"keystore"`
		KeystoreLocked bool   `json:"keystore_locked"`
		KeystoreFile   string `json:"keystore_file"`
	}
	if err := json.Unmarshal([]byte(w.must(nil, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Keystore != "file" || !st.KeystoreLocked || st.KeystoreFile != file {
		t.Fatalf("status while waiting for the passphrase: %+v", st)
	}
	if out := w.must(nil, "status"); !strings.Contains(out, "waits for its passphrase") {
		t.Fatalf("status does not say the keystore waits: %q", out)
	}
	env := w.envVars("work")
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	start := time.Now()
	if code, err := endpointStatus(url, tok); err != nil || code == 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("fetch before the passphrase: %d %v after %v", code, err, time.Since(start))
	}

	// A wrong passphrase is refused and the daemon keeps waiting.
	bad := append(without(w.env, "MFAD_FILE_PASSPHRASE"), "MFAD_FILE_PASSPHRASE=not the passphrase")
	if _, errs, err := w.runEnv(bad, []byte("123456\n"), "unlock", "work", "--code-stdin"); err == nil || !strings.Contains(errs, "passphrase") {
		t.Fatalf("unlock with a wrong passphrase: %v %q", err, errs)
	}

	// `mfad unlock` gives the passphrase first (here from its own
	// environment; on a terminal it asks), then the code.
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code, "e2e passphrase")
	out, errs, err := w.run([]byte(code+"\n"), "unlock", "work", "--code-stdin")
	if err != nil || !strings.Contains(out, "Unlocked work") || !strings.Contains(errs, "Opened the keystore file") {
		t.Fatalf("unlock: %v %q %q\n%s", err, out, errs, w.logs.String())
	}
	if code, err := endpointStatus(url, tok); err != nil || code != 200 {
		t.Fatalf("fetch after unlock: %d %v", code, err)
	}
	if strings.Contains(w.logs.String(), "e2e passphrase") {
		t.Fatal("the daemon logged the passphrase")
	}
}
