package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
)

// TestRuntimeDirRemoved: removing the runtime directory under a running
// daemon leaves the CLI able to reach it within 5 s; and a second daemon
// started in the gap does not start beside it.
func TestRuntimeDirRemoved(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	pid := w.daemon.Process.Pid
	removeAtOnce(t, w.runDir)
	removed := time.Now()
	for {
		out, _, err := w.run(nil, "status", "--json")
		if err == nil && strings.Contains(out, fmt.Sprintf(`"pid": %d`, pid)) {
			break
		}
		if time.Since(removed) > 5*time.Second {
			t.Fatalf("the CLI does not reach the daemon 5 s after its runtime directory was removed:\n%s", w.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the CLI reached the daemon again %v after the removal", time.Since(removed).Round(time.Millisecond))

	// A second daemon started in the gap: one of the two stops.
	removeAtOnce(t, w.runDir)
	removed = time.Now()
	second := exec.Command(w.bin, "daemon")
	second.Env = w.env
	var secondLog testenv.SafeBuffer
	second.Stdout, second.Stderr = &secondLog, &secondLog
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	secondDone := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		secondDone <- second.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		second.Process.Signal(os.Interrupt)
		<-exited
	})
	// The second finds the first's lock (outside the runtime directory)
	// and stops; the first recreates its directory.
	select {
	case err := <-secondDone:
		if err == nil || !strings.Contains(secondLog.String(), "already running") {
			t.Errorf("the second daemon: %v\n%s", err, secondLog.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("two daemons still run 5 s after the runtime directory was removed:\nfirst:\n%s\nsecond:\n%s", w.logs, secondLog.String())
	}
	live := w.daemon
	t.Logf("the second daemon stopped %v after the removal", time.Since(removed).Round(time.Millisecond))
	testenv.WaitFor(t, "the CLI to reach the daemon that runs", func() bool {
		out, _, err := w.run(nil, "status", "--json")
		return err == nil && strings.Contains(out, fmt.Sprintf(`"pid": %d`, live.Process.Pid))
	})
}

// removeAtOnce makes dir vanish in one step, as `rm -rf` by another program
// or a tmpfs cleaner would from the daemon's point of view, and deletes it:
// renamed away first, so that a daemon recreating it meanwhile cannot make
// the deletion fail half-way.
func removeAtOnce(t *testing.T, dir string) {
	t.Helper()
	gone, err := os.MkdirTemp(filepath.Dir(dir), "gone-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(gone, "run")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
}
