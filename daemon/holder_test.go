package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
)

// startHolder starts a process that lives until the returned function
// ends it (and reaps it).
func startHolder(t *testing.T) (pid int, end func()) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := false
	end = func() {
		if !ended {
			ended = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(end)
	return cmd.Process.Pid, end
}

// A token handed to a process ends with it, also after a restart; one
// handed to no process lasts; one whose process is gone is listed stale.
func TestTokenEndsWithItsHolder(t *testing.T) {
	e := testenv.New(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, TokensDir), 0o700)
	d, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	d.runDir, d.base = dir, "http://127.0.0.1:1"
	conn := fakeConn{ctx: context.Background()}
	shell, exitShell := startHolder(t)
	watched, err := d.issueClientToken(conn, TokenEnv, ipc.EnvRequest{Profile: "work", WatchPID: shell})
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := d.issueClientToken(conn, TokenEnv, ipc.EnvRequest{Profile: "work"})
	c := &control{d: d, conn: conn}
	r, _ := c.Tokens(context.Background(), ipc.TokensRequest{})
	if len(r.Tokens) != 2 || r.Tokens[0].Stale || r.Tokens[1].Stale {
		t.Fatalf("tokens %+v", r.Tokens)
	}
	exitShell()
	// Revocation drops the token, then its file.
	testenv.WaitFor(t, "the token of an exited shell to be revoked and its file removed", func() bool {
		_, err := os.Stat(watched.TokenFile)
		return d.tokens.check(watched.Token) == nil && os.IsNotExist(err)
	})
	if d.tokens.check(kept.Token) == nil {
		t.Fatal("a token handed to no process was revoked")
	}

	// Across a clean restart, the next daemon watches the holder again.
	shell2, exitShell2 := startHolder(t)
	again, _ := d.issueClientToken(conn, TokenEnv, ipc.EnvRequest{Profile: "work", WatchPID: shell2})
	d.stopping.Store(true)
	d.markStopped()
	d.Close()
	if _, err := os.Stat(again.TokenFile); err != nil {
		t.Fatalf("a stopping daemon revoked a watched token: %v", err)
	}
	d2, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	d2.runDir, d2.base = dir, "http://127.0.0.1:1"
	d2.restoreTokens(true)
	if d2.tokens.check(again.Token) == nil {
		t.Fatal("watched token not restored")
	}
	exitShell2()
	testenv.WaitFor(t, "the restored token of an exited shell to be revoked", func() bool { return d2.tokens.check(again.Token) == nil })

	// A holder the daemon could not watch in time shows as stale.
	gone, end := startHolder(t)
	end()
	tok, _ := d2.tokens.issue(TokenEnv, "work", "", e.Clock.Now())
	d2.tokens.setWatch(tok.ID, gone)
	r, _ = (&control{d: d2, conn: conn}).Tokens(context.Background(), ipc.TokensRequest{})
	stale := 0
	for _, ti := range r.Tokens {
		if ti.Stale {
			stale++
			if ti.ID != tok.ID || ti.WatchPID != gone {
				t.Fatalf("stale %+v", ti)
			}
		}
	}
	if stale != 1 {
		t.Fatalf("tokens %+v", r.Tokens)
	}
}

// Where a process cannot be waited on, it is checked on a timer.
func TestPollExit(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	var checks atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- pollExit(context.Background(), clk, func() bool { return checks.Add(1) < 3 })
	}()
	for i := 0; i < 2; i++ {
		testenv.WaitFor(t, "a poll timer", func() bool { return clk.Pending() == 1 })
		clk.Advance(holderPoll)
	}
	if err := <-done; err != nil || checks.Load() != 3 {
		t.Fatalf("pollExit: %v after %d checks", err, checks.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- pollExit(ctx, clk, func() bool { return true }) }()
	testenv.WaitFor(t, "a poll timer", func() bool { return clk.Pending() == 1 })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
}
