package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/internal/testenv"
)

// TestClientsSurviveADaemonRestart restarts the daemon under a running
// `mfad exec` job and a shell that ran `eval "$(mfad env)"`: both keep
// getting credentials, at the same URL, with no new MFA code.
func TestClientsSurviveADaemonRestart(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()

	env := w.envVars("work")
	fetch := func() int {
		code, _ := endpointStatus(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
		return code
	}
	if code := fetch(); code != 200 {
		t.Fatalf("before the restart: %d", code)
	}

	// A long job: it waits for a go-ahead, then fetches with the Go SDK.
	goAhead := filepath.Join(w.home, "go-ahead")
	started := filepath.Join(w.home, "started")
	job := exec.Command(w.bin, append([]string{"exec", "--profile", "admin", "--", "sh", "-c",
		`touch "$1"; while [ ! -e "$2" ]; do sleep 0.02; done; shift 2; exec "$@"`, "sh", started, goAhead}, helperArgs()...)...)
	job.Env = w.env
	var out strings.Builder
	job.Stdout = &out
	job.Stderr = &out
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the job to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	calls := len(w.emu.Calls())
	w.stopDaemon()
	w.startDaemon()
	if code := fetch(); code != 200 {
		t.Fatalf("the env token or URL did not survive the restart: %d", code)
	}
	os.WriteFile(goAhead, nil, 0o600)
	if err := job.Wait(); err != nil {
		t.Fatalf("the job failed after the restart: %v\n%s\ndaemon log:\n%s", err, out.String(), w.logs.String())
	}
	if id := parseIdentity(t, out.String()); !strings.Contains(id.Arn, ":assumed-role/admin/") {
		t.Fatalf("job: %+v", id)
	}
	for _, c := range w.emu.Calls()[calls:] {
		if c.Action == "GetSessionToken" {
			t.Fatal("the restart needed a new MFA code")
		}
	}
	// The job's token was adopted by the new daemon and revoked when it ended.
	testenv.WaitFor(t, "the job's token to be revoked", func() bool {
		var tokens struct {
			Tokens []struct{ Kind string } `json:"tokens"`
		}
		json.Unmarshal([]byte(w.must(nil, "tokens", "list", "--json")), &tokens)
		for _, tk := range tokens.Tokens {
			if tk.Kind == "exec" {
				return false
			}
		}
		return true
	})
}
