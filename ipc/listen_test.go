package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// staleSocket leaves a socket file at path that nothing listens on, as a
// daemon that was killed would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

func TestDialNoDaemon(t *testing.T) {
	path := SocketPath(shortDir(t))
	check := func(t *testing.T) {
		_, err := Dial(t.Context(), path)
		if !errors.Is(err, ErrNoDaemon) {
			t.Fatalf("Dial = %v, want ErrNoDaemon", err)
		}
		want := "no mfad daemon is running (socket " + path + "): start it with `mfad daemon` (or `mfad service install`)"
		if err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	}
	t.Run("no socket", check)
	staleSocket(t, path)
	t.Run("stale socket", check)
}

func TestDialHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Dial(ctx, SocketPath(shortDir(t))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context = %v", err)
	}
}

func TestListenOverStaleSocket(t *testing.T) {
	path := SocketPath(shortDir(t))
	staleSocket(t, path)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ts := serveOn(t, &Server{}, ln, path)
	if err := dial(t, ts.path).invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatal(err)
	}
}

func TestListenOverLiveDaemon(t *testing.T) {
	path := SocketPath(shortDir(t))
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Listen(path)
	if !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("second Listen = %v, want ErrDaemonRunning", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the socket: %v", err)
	}
	// The first listener is untouched.
	ts := serveOn(t, &Server{}, ln, path)
	if err := dial(t, path).invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatalf("first daemon broken by the second Listen: %v", err)
	}
	// Once it is gone, a new daemon may listen.
	ts.stop(t)
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen after the first daemon stopped: %v", err)
	}
	ln2.Close()
}

func TestListenProbesUnlockedDaemon(t *testing.T) {
	// A live listener that does not hold the lock file (for example one
	// started by an older build) is still detected by connecting to it.
	path := SocketPath(shortDir(t))
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Listen(path); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("Listen over a live socket = %v, want ErrDaemonRunning", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := SocketPath(shortDir(t))
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file = %v, want a not-a-socket error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Fatalf("regular file damaged: %q, %v", b, err)
	}
}

func TestSocketAndDirModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
	dir := filepath.Join(shortDir(t), "run")
	if err := EnsureRuntimeDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("runtime dir mode = %v, want 0700", fi.Mode().Perm())
	}
	path := SocketPath(dir)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err = os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
}

func TestSocketPathTooLong(t *testing.T) {
	path := "/" + strings.Repeat("d", 120) + "/control.sock"
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
		t.Errorf("Listen with a long path = %v, want an actionable length error", err)
	}
	if _, err := Dial(t.Context(), path); err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Errorf("Dial with a long path = %v, want a length error", err)
	}
}

// fakeDaemon answers each request with whatever respond returns.
func fakeDaemon(t *testing.T, respond func(req *Request) *Response) string {
	t.Helper()
	path := SocketPath(shortDir(t))
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				for {
					req, err := DecodeRequest(nc)
					if err != nil {
						return
					}
					if err := EncodeResponse(nc, respond(req)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return path
}

func TestClientChecksResponses(t *testing.T) {
	t.Run("wrong id", func(t *testing.T) {
		path := fakeDaemon(t, func(req *Request) *Response {
			return &Response{V: ProtocolVersion, ID: req.ID + 1}
		})
		c := dial(t, path)
		if err := c.invoke(t.Context(), "x", nil, nil); err == nil || !strings.Contains(err.Error(), "restart the daemon") {
			t.Fatalf("Call = %v, want a mismatched-id error", err)
		}
		if err := c.invoke(t.Context(), "x", nil, nil); err == nil {
			t.Fatal("client usable after a mismatched response")
		}
	})
	t.Run("other version", func(t *testing.T) {
		path := fakeDaemon(t, func(req *Request) *Response {
			return &Response{V: ProtocolVersion + 1, ID: req.ID, Body: json.RawMessage(`1`)}
		})
		err := dial(t, path).invoke(t.Context(), "x", nil, nil)
		if err == nil || !strings.Contains(err.Error(), "`mfad daemon`") {
			t.Fatalf("Call = %v, want a version error", err)
		}
	})
	t.Run("undecodable body", func(t *testing.T) {
		path := fakeDaemon(t, func(req *Request) *Response {
			return &Response{V: ProtocolVersion, ID: req.ID, Body: json.RawMessage(`"text"`)}
		})
		var n int
		if err := dial(t, path).invoke(t.Context(), "x", nil, &n); err == nil {
			t.Fatal("Call decoding a string into an int succeeded")
		}
	})
	t.Run("ids increase", func(t *testing.T) {
		var ids []uint64
		path := fakeDaemon(t, func(req *Request) *Response {
			ids = append(ids, req.ID)
			return &Response{V: ProtocolVersion, ID: req.ID}
		})
		c := dial(t, path)
		for range 3 {
			if err := c.invoke(t.Context(), "x", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if len(ids) != 3 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 {
			t.Fatalf("request ids = %v, want [1 2 3]", ids)
		}
	})
}

func TestCloseIdempotent(t *testing.T) {
	ts := startServer(t, &Server{})
	c, err := Dial(t.Context(), ts.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
