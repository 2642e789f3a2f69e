package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
)

// TestRuntimeDirRecreated: when the runtime directory is removed under a
// running daemon, the daemon recreates it, with a new control socket and
// every published file, at its next check; connections already open keep
// working.
func TestRuntimeDirRecreated(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	ctx := context.Background()
	held, err := ipc.Dial(ctx, ipc.SocketPath(w.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	env, err := held.Env(ctx, ipc.EnvRequest{Profile: "work", Label: "watch test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(w.dir); err != nil {
		t.Fatal(err)
	}
	if _, err := ipc.Dial(ctx, ipc.SocketPath(w.dir)); err == nil {
		t.Fatal("the socket answered with its directory gone")
	}
	w.e.Clock.Advance(runtimeCheckEvery)
	testenv.WaitFor(t, "the control socket to be recreated", func() bool {
		c, err := ipc.Dial(ctx, ipc.SocketPath(w.dir))
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.Status(ctx, ipc.StatusRequest{})
		return err == nil
	})
	testenv.WaitFor(t, "the published files", func() bool {
		tok, err1 := os.ReadFile(filepath.Join(w.dir, TokenFile))
		envTok, err2 := os.ReadFile(env.TokenFile)
		url, err3 := os.ReadFile(filepath.Join(w.dir, EndpointFile))
		return err1 == nil && err2 == nil && err3 == nil &&
			string(tok) == w.token && string(envTok) == env.Token && string(url) == w.base &&
			strings.Contains(w.e.Log.String(), "recreated the runtime directory")
	})
	if fi, err := os.Stat(w.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("recreated directory: %v, %v", fi.Mode(), err)
	}
	if _, err := os.Stat(env.TokenFile + ".json"); err != nil {
		t.Errorf("the token's description was not written again: %v", err)
	}
	// The connection opened before goes on working.
	if _, err := held.Status(ctx, ipc.StatusRequest{}); err != nil {
		t.Fatalf("a connection opened before the directory vanished: %v", err)
	}
	// A revoked token's file is not brought back.
	if _, err := held.Revoke(ctx, ipc.RevokeRequest{ID: env.TokenID}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(w.dir, EndpointFile))
	w.e.Clock.Advance(runtimeCheckEvery)
	testenv.WaitFor(t, "the endpoint file", func() bool {
		_, err := os.Stat(filepath.Join(w.dir, EndpointFile))
		return err == nil
	})
	if _, err := os.Stat(env.TokenFile); err == nil {
		t.Error("a revoked token's file was written again")
	}
}

// TestRuntimeDirTakenOver: when another daemon has taken the runtime
// directory by the time the first one checks, the first one stops, with a
// clear log line, rather than serve unreachable beside it.
func TestRuntimeDirTakenOver(t *testing.T) {
	first := newSecWorld(t)
	dir, err := os.MkdirTemp("", "mfad-watch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := func(w *secWorld) (chan error, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- w.d.Run(ctx, RunOptions{RuntimeDir: dir, Listen: "127.0.0.1:0", Ready: func(base string) { ready <- base }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
		return done, cancel
	}
	firstDone, cancel1 := run(first)
	defer cancel1()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	second := newSecWorld(t)
	secondDone, cancel2 := run(second)
	defer func() {
		cancel2()
		if err := <-secondDone; err != nil {
			t.Errorf("second daemon: %v", err)
		}
	}()
	first.e.Clock.Advance(runtimeCheckEvery)
	select {
	case err := <-firstDone:
		if err == nil || !strings.Contains(err.Error(), "not recreated") {
			t.Fatalf("the first daemon stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first daemon still runs beside the second")
	}
	if log := first.e.Log.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "could not be recreated") {
		t.Errorf("no clear log line:\n%s", log)
	}
	// The second daemon is the one the CLI reaches.
	c, err := ipc.Dial(context.Background(), ipc.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(context.Background(), ipc.StatusRequest{})
	if err != nil || st.PID == 0 {
		t.Fatalf("status from the second daemon: %+v, %v", st, err)
	}
}

// TestSecondDaemonRefusedWhileDirGone: a second daemon for the same
// runtime directory does not start, even while the first one's directory
// is gone, since the first holds the instance lock outside it.
func TestSecondDaemonRefusedWhileDirGone(t *testing.T) {
	first, second := newSecWorld(t), newSecWorld(t)
	dir, err := os.MkdirTemp("", "mfad-watch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lock := filepath.Join(t.TempDir(), "state", "daemon.lock")
	opts := RunOptions{RuntimeDir: dir, Listen: "127.0.0.1:0", InstanceLock: lock}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	firstDone := make(chan error, 1)
	o := opts
	o.Ready = func(base string) { ready <- base }
	go func() { firstDone <- first.d.Run(ctx, o) }()
	select {
	case <-ready:
	case err := <-firstDone:
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		cancel()
		if err := <-firstDone; err != nil {
			t.Errorf("first daemon: %v", err)
		}
	}()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- second.d.Run(context.Background(), opts) }()
	first.e.Clock.Advance(runtimeCheckEvery) // the first recreates its directory
	select {
	case err := <-secondDone:
		if !errors.Is(err, ipc.ErrDaemonRunning) {
			t.Fatalf("the second daemon: %v, want ErrDaemonRunning", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second daemon started beside the first")
	}
	// The second daemon is refused on the instance lock alone, possibly
	// before the first has recreated its socket: the CLI reaches the first
	// once it has.
	testenv.WaitFor(t, "the first daemon's recreated socket to answer", func() bool {
		c, err := ipc.Dial(context.Background(), ipc.SocketPath(dir))
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.Status(context.Background(), ipc.StatusRequest{})
		return err == nil
	})
}
