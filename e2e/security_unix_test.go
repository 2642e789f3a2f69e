//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/testenv"
)

// TestHelperOtherUser is not a test: run as another user, it tries what
// that user could: the control socket, the token file, the endpoint
// without a token; it prints one line per attempt.
func TestHelperOtherUser(t *testing.T) {
	run := os.Getenv("MFAD_E2E_OTHER_RUNDIR")
	if run == "" {
		t.Skip("helper process for TestOtherUserGetsNothing")
	}
	if _, err := os.ReadFile(filepath.Join(run, "token")); err != nil {
		fmt.Println("token:", errors.Is(err, os.ErrPermission))
	} else {
		fmt.Println("token: READ")
	}
	if c, err := os.OpenFile(filepath.Join(run, "control.sock"), os.O_RDWR, 0); err != nil {
		fmt.Println("socket:", errors.Is(err, os.ErrPermission))
	} else {
		c.Close()
		fmt.Println("socket: OPENED")
	}
	resp, err := http.Get(os.Getenv("MFAD_E2E_OTHER_URL"))
	if err != nil {
		fmt.Println("endpoint:", err)
	} else {
		resp.Body.Close()
		fmt.Println("endpoint:", resp.StatusCode)
	}
	os.Exit(0)
}

// TestOtherUserGetsNothing runs a process as another user (root only): it
// can read neither the token files nor reach the control socket, and the
// endpoint refuses it, with its uid in the audit log.
func TestOtherUserGetsNothing(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const nobody = 65534
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	dir, helper := testBinaryForOthers(t, "mfad-other-")
	url := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(w.runDir, "endpoint"))))) + "/v1/credentials/work"
	cmd := exec.Command(helper, "-test.run=^TestHelperOtherUser$")
	cmd.Dir = dir
	cmd.Env = []string{"MFAD_E2E_OTHER_RUNDIR=" + w.runDir, "MFAD_E2E_OTHER_URL=" + url, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", nobody, err, out)
	}
	for _, want := range []string{"token: true", "socket: true", "endpoint: 403"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("as uid %d: no %q in:\n%s", nobody, want, out)
		}
	}
	testenv.WaitFor(t, "the refusal in the audit log", func() bool {
		for _, e := range readAudit(t, filepath.Join(w.home, "audit.log")) {
			if e.Event == audit.Fetch && e.Status == 403 && e.Reason == "no_token" && e.UID != nil && *e.UID == nobody {
				return true
			}
		}
		return false
	})
}

// testBinaryForOthers copies this test binary into a new directory that
// any user may enter, for a test to run it as another user; the directory
// goes when the test ends. It returns the directory and the copy.
func testBinaryForOthers(t *testing.T, prefix string) (dir, helper string) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	helper = filepath.Join(dir, "e2e.test")
	if b, err := os.ReadFile(exe); err != nil || os.WriteFile(helper, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	return dir, helper
}
