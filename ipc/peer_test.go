//go:build unix

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperSocketEnv tells TestHelperProcess which socket to call, and
// helperOpEnv which operation ("echo" when unset).
const (
	helperSocketEnv = "MFAD_IPC_HELPER_SOCKET"
	helperOpEnv     = "MFAD_IPC_HELPER_OP"
)

// TestHelperProcess is not a real test: TestOtherUserIsForbidden runs the
// test binary as another user with this test selected, to act as that
// user's CLI.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperSocketEnv)
	if path == "" {
		t.Skip("helper for TestOtherUserIsForbidden; does nothing on its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		fmt.Printf("RESULT dial: %v\n", err)
		return
	}
	defer c.Close()
	if os.Getenv(helperOpEnv) == "hold" {
		// Send one request, then exit.
		_ = c.invoke(ctx, "hold", nil, nil)
		return
	}
	err = c.invoke(ctx, "echo", payload{Code: "246810"}, nil)
	var e *Error
	switch {
	case errors.As(err, &e):
		fmt.Printf("RESULT code=%s uid=%d\n", e.Code, os.Getuid())
	default:
		fmt.Printf("RESULT err=%v uid=%d\n", err, os.Getuid())
	}
}

func TestOtherUserIsForbidden(t *testing.T) {
	requireRoot(t)
	// A test-only directory and socket that anyone may reach, so that the
	// peer check, not file permissions, is what turns the other user away.
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := SocketPath(dir)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	ts := serveOn(t, &Server{}, ln, path)
	calls := make(chan string, 1)
	ts.h.calls = calls

	// The test binary usually sits in a directory only we can read; give
	// the other user a copy.
	exe := filepath.Join(dir, "ipc.test")
	copyFile(t, exe)

	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{helperSocketEnv + "=" + path, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil && errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot start a process as uid %d here: %v", nobody, err)
	}
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("RESULT code=forbidden uid=%d", nobody); !strings.Contains(string(out), want) {
		t.Fatalf("helper output lacks %q:\n%s", want, out)
	}
	select {
	case op := <-calls:
		t.Fatalf("handler ran (%q) for another user", op)
	default:
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, fmt.Sprintf("peer_uid=%d", nobody)) || !strings.Contains(logs, "peer_pid=") {
		t.Errorf("refusal not logged at warn with the peer's uid and pid:\n%s", logs)
	}
	if strings.Contains(logs, "246810") {
		t.Errorf("the daemon logged a request payload:\n%s", logs)
	}
}

// copyFile copies the running test binary to dst, executable by anyone.
func copyFile(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
