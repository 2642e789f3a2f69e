package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
)

// writeLikeAnEditor replaces path's content the way many editors save: a
// new file renamed over the old one.
func writeLikeAnEditor(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonFollowsItsConfiguration: profiles added to the configuration
// file and to ~/.aws/config of a running daemon are served within 5 s, with
// no restart and no new code; a broken edit is refused with the error in
// `mfad status`, and the profiles before it go on being served.
func TestDaemonFollowsItsConfiguration(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	env := w.envVars("work")
	workURL, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	daemonToken, err := os.ReadFile(filepath.Join(w.runDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(workURL, "work")
	calls := len(w.emu.Calls())
	fetch := func(profile string) int {
		code, _ := endpointStatus(base+profile, string(daemonToken))
		return code
	}
	if code := fetch("ops"); code != 404 {
		t.Fatalf("ops before it is configured: %d", code)
	}

	// A role profile added to the mfad configuration file.
	orig, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withOps := string(orig) + fmt.Sprintf("  ops:\n    role_arn: %s\n    source_profile: work\n", w.roleARN)
	added := time.Now()
	writeLikeAnEditor(t, w.cfgPath, withOps)
	testenv.WaitFor(t, "ops to be served", func() bool { return fetch("ops") == 200 })
	if took := time.Since(added); took > 5*time.Second {
		t.Fatalf("ops was served %v after the edit", took)
	}
	t.Logf("ops served %v after the edit", time.Since(added).Round(time.Millisecond))
	// And one added to ~/.aws/config.
	awsCfg := fmt.Sprintf("[profile audit]\nrole_arn = %s\nsource_profile = work\n", w.roleARN)
	added = time.Now()
	writeLikeAnEditor(t, filepath.Join(w.home, "aws-config"), awsCfg)
	testenv.WaitFor(t, "audit to be served", func() bool { return fetch("audit") == 200 })
	if took := time.Since(added); took > 5*time.Second {
		t.Fatalf("audit was served %v after the edit", took)
	}
	// `mfad env` for the new profile works, and work kept its session.
	if env := w.envVars("ops"); env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != base+"ops" {
		t.Fatalf("env ops: %v", env)
	}
	for _, c := range w.emu.Calls()[calls:] {
		if c.Action == "GetSessionToken" {
			t.Fatal("the reload needed a new MFA session")
		}
	}
	if code, _ := endpointStatus(workURL, tok); code != 200 {
		t.Fatalf("work after the reload: %d", code)
	}

	// A broken edit: refused, said in status, the old profiles served.
	writeLikeAnEditor(t, w.cfgPath, withOps+"  broken: [\n")
	var st struct {
		ConfigError string `json:"config_error"`
	}
	testenv.WaitFor(t, "the refusal in status", func() bool {
		json.Unmarshal([]byte(w.must(nil, "status", "--json")), &st)
		return st.ConfigError != ""
	})
	for _, p := range []string{"work", "ops", "audit", "admin"} {
		if code := fetch(p); code != 200 {
			t.Fatalf("%s after a broken edit: %d", p, code)
		}
	}
	if out := w.must(nil, "status"); !strings.Contains(out, "configuration change refused") {
		t.Fatalf("status does not show the refusal: %q", out)
	}
	if !strings.Contains(w.logs.String(), "configuration change refused") {
		t.Fatal("the log does not show the refusal")
	}

	// Fixed, with ops removed: the refusal clears, ops is gone, work stays.
	writeLikeAnEditor(t, w.cfgPath, string(orig))
	testenv.WaitFor(t, "ops to go", func() bool { return fetch("ops") == 404 })
	st.ConfigError = ""
	json.Unmarshal([]byte(w.must(nil, "status", "--json")), &st)
	if st.ConfigError != "" {
		t.Fatalf("the refusal stays after a good edit: %q\n%s", st.ConfigError, w.logs.String())
	}
	if code := fetch("work"); code != 200 {
		t.Fatalf("work after ops was removed: %d", code)
	}

	// SIGHUP reads the files again too (here: nothing changed).
	if sig := sighup(); sig != nil {
		w.daemon.Process.Signal(sig)
		testenv.WaitFor(t, "the SIGHUP reload", func() bool {
			return strings.Contains(w.logs.String(), "SIGHUP: reading the configuration again")
		})
		if code := fetch("work"); code != 200 {
			t.Fatalf("work after SIGHUP: %d", code)
		}
	}
}
