package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
)

type fakeConn struct{ ctx context.Context }

func (c fakeConn) Peer() ipc.Peer           { return ipc.Peer{UID: os.Getuid(), PID: 4242} }
func (c fakeConn) Context() context.Context { return c.ctx }

// TestTokensOutliveARestart issues tokens on one daemon and restores them
// on the next: env tokens stay valid, an exec token stays valid once its
// `mfad exec` adopts it, and one nobody adopts is revoked after the grace.
func TestTokensOutliveARestart(t *testing.T) {
	e := testenv.New(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, TokensDir), 0o700)
	first, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	first.runDir, first.base = dir, "http://127.0.0.1:1"
	conn := fakeConn{ctx: context.Background()}
	envTok, err := first.issueClientToken(conn, TokenEnv, ipc.EnvRequest{Profile: "work"})
	if err != nil {
		t.Fatal(err)
	}
	adopted, _ := first.issueClientToken(conn, TokenExec, ipc.EnvRequest{Profile: "admin"})
	orphan, _ := first.issueClientToken(conn, TokenExec, ipc.EnvRequest{Profile: "admin"})
	if b, _ := os.ReadFile(envTok.TokenFile); string(b) != envTok.Token {
		t.Fatalf("token file holds %q", b)
	}
	if fi, _ := os.Stat(envTok.TokenFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	first.stopping.Store(true)
	first.markStopped()
	first.Close()

	second, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.runDir, second.base = dir, "http://127.0.0.1:1"
	second.restoreTokens(true)
	for _, tok := range []string{envTok.Token, adopted.Token, orphan.Token} {
		if second.tokens.check(tok) == nil {
			t.Fatalf("token %s not restored", tok[:21])
		}
	}
	ctx, hangUp := context.WithCancel(context.Background())
	if _, err := second.adopt(fakeConn{ctx: ctx}, ipc.AdoptRequest{Token: adopted.Token}); err != nil {
		t.Fatal(err)
	}
	if _, err := second.adopt(fakeConn{ctx: ctx}, ipc.AdoptRequest{Token: envTok.Token}); err == nil {
		t.Fatal("an env token was adopted as an exec token")
	}
	e.Clock.Advance(orphanGrace + time.Second)
	if second.tokens.check(orphan.Token) != nil {
		t.Fatal("an exec token nobody adopted is still valid")
	}
	if _, err := os.Stat(orphan.TokenFile); !os.IsNotExist(err) {
		t.Fatalf("the orphan's file is still there: %v", err)
	}
	if second.tokens.check(adopted.Token) == nil || second.tokens.check(envTok.Token) == nil {
		t.Fatal("an adopted or env token was revoked")
	}
	// The adopted token is revoked when its new connection closes.
	hangUp()
	testenv.WaitFor(t, "revocation", func() bool { return second.tokens.check(adopted.Token) == nil })
	// A token file that was tampered with is dropped, not trusted.
	os.WriteFile(envTok.TokenFile, []byte("mfad.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0o600)
	second.markStopped()
	third, _ := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
	defer third.Close()
	third.runDir = dir
	third.restoreTokens(true)
	if len(third.tokens.list()) != 0 {
		t.Fatalf("restored %d tokens from tampered files", len(third.tokens.list()))
	}
}

// TestTokensDroppedAfterLongDowntimeOrNewAddress: while no daemon listens,
// another local user could take the port and collect tokens; after a long or
// unclean stop, or on another address, client tokens are not honoured.
func TestTokensDroppedAfterLongDowntimeOrNewAddress(t *testing.T) {
	for _, c := range []struct {
		name     string
		stop     func(d *Daemon, e *testenv.Env)
		sameAddr bool
	}{
		{"crash", func(d *Daemon, e *testenv.Env) {}, true},
		{"long downtime", func(d *Daemon, e *testenv.Env) { d.markStopped(); e.Clock.Advance(restartGrace + time.Second) }, true},
		{"new address", func(d *Daemon, e *testenv.Env) { d.markStopped() }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := testenv.New(t)
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, TokensDir), 0o700)
			first, _ := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
			first.runDir, first.base = dir, "http://127.0.0.1:1"
			tok, err := first.issueClientToken(fakeConn{ctx: context.Background()}, TokenEnv, ipc.EnvRequest{Profile: "work"})
			if err != nil {
				t.Fatal(err)
			}
			c.stop(first, e)
			first.Close()
			second, _ := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock})
			defer second.Close()
			second.runDir = dir
			second.restoreTokens(c.sameAddr)
			if second.tokens.check(tok.Token) != nil {
				t.Fatal("the token was honoured")
			}
			if _, err := os.Stat(tok.TokenFile); !os.IsNotExist(err) {
				t.Fatal("the token file was left behind")
			}
		})
	}
}

// Recording a token's holder or file while other goroutines list and check
// tokens (as `mfad tokens list` and the endpoint do) changes no entry they
// hold: run with -race.
func TestTokenUpdatesDoNotRaceReaders(t *testing.T) {
	r := newTokenRegistry()
	tok, err := r.issue(TokenEnv, "work", "", time.Unix(1e9, 0))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 1000; i++ {
			r.setWatch(tok.ID, i)
			r.setFile(tok.ID, "f")
		}
	}()
	for {
		select {
		case <-done:
			l := r.list()
			if len(l) != 1 || l[0].WatchPID != 1000 || l[0].File != "f" || r.check(tok.Value) == nil {
				t.Fatalf("after the updates: %+v", l)
			}
			return
		default:
			_ = r.list()
			if e := r.check(tok.Value); e == nil || e.Profile != "work" {
				t.Fatalf("check: %+v", e)
			}
		}
	}
}
