package ipc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestPeerDescribedAtAccept: a client that sends one request and exits at
// once is still named — executable, parent and the parent's executable —
// because the server reads them when it accepts the connection.
func TestPeerDescribedAtAccept(t *testing.T) {
	ts := startServer(t, &Server{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperSocketEnv+"="+ts.path, helperOpEnv+"=hold")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var c Conn
	select {
	case c = <-ts.h.conns:
	case <-time.After(waitLimit):
		t.Fatal("the helper's request never arrived")
	}
	// The helper has exited: its /proc entry is gone.
	p := c.Peer()
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(p.PID))); err == nil {
		t.Logf("pid %d exists again (reused); the description must still be the helper's", p.PID)
	}
	parentExe, _ := os.Readlink("/proc/self/exe")
	if p.PID != cmd.Process.Pid || p.Exe != parentExe || p.PPID != os.Getpid() || p.ParentExe != parentExe {
		t.Fatalf("peer %+v: want pid %d, exe %s, parent %d (%s)", p, cmd.Process.Pid, parentExe, os.Getpid(), parentExe)
	}
}
