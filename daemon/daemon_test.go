package daemon_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/mfacode"
)

// fakeSource is a code source for tests: it counts requests and answers
// with code() or err.
type fakeSource struct {
	calls atomic.Int32
	code  func() string
	err   error
}

func (f *fakeSource) Name() string { return "fake" }
func (f *fakeSource) Code(ctx context.Context, req mfacode.Request) (string, error) {
	f.calls.Add(1)
	if f.err != nil {
		return "", f.err
	}
	return f.code(), nil
}

type daemonOptions = daemon.Options

func newDaemon(t *testing.T, e *testenv.Env, src mfacode.Source) *daemon.Daemon {
	t.Helper()
	d, err := newDaemonWith(t, e, func(o *daemon.Options) {
		if src != nil {
			o.CodeSource = func(context.Context, *configs.Profile) (mfacode.Source, error) { return src, nil }
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newDaemonWith builds a daemon on e, restored from e's keystore.
func newDaemonWith(t *testing.T, e *testenv.Env, opt func(*daemon.Options)) (*daemon.Daemon, error) {
	t.Helper()
	opts := daemon.Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger}
	// Waiting for the next TOTP step moves the fake clock.
	opts.Guard = mfacode.NewOnceGuard(e.Clock.Now, func(ctx context.Context, d time.Duration) error {
		e.Clock.Advance(d)
		return nil
	})
	opt(&opts)
	d, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(d.Close)
	if err := d.Restore(context.Background()); err != nil {
		return nil, err
	}
	return d, nil
}

func TestUnlockServeLockAndRestart(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) || !strings.Contains(err.Error(), "mfad unlock work") {
		t.Fatalf("locked profile: %v", err)
	}
	st, err := d.Unlock(ctx, "work", e.Code())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Unlocked || !st.SessionExpiration.Equal(testenv.Start.Add(12*time.Hour)) {
		t.Fatalf("status %+v", st)
	}
	c, err := d.Credentials(ctx, "work")
	if err != nil || !strings.HasPrefix(c.AccessKeyID, "ASIA") {
		t.Fatalf("credentials %v %v", c, err)
	}
	// Unlocking work also renews the role profile admin in the background.
	testenv.WaitFor(t, "admin role session", func() bool { return !d.Status("admin")[0].RoleExpiration.IsZero() })
	// A restart restores both sessions with zero STS calls.
	calls := e.Count("")
	d.Close()
	d2 := newDaemon(t, e, nil)
	c2, err := d2.Credentials(ctx, "work")
	if err != nil || c2.AccessKeyID != c.AccessKeyID {
		t.Fatalf("restored %v %v", c2, err)
	}
	if _, err := d2.Credentials(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if e.Count("") != calls {
		t.Fatalf("restart made %d STS calls", e.Count("")-calls)
	}
	// Lock clears memory and the store.
	if _, err := d2.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("after lock: %v", err)
	}
	if _, err := e.Store.Get(ctx, "work", keystore.SessionItem); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("session still stored after lock: %v", err)
	}
	d3 := newDaemon(t, e, nil)
	if _, err := d3.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("locked session came back after restart: %v", err)
	}
}

func TestReusedCodeRefusedLocally(t *testing.T) {
	e := testenv.New(t)
	d := newDaemon(t, e, nil)
	code := e.Code()
	if _, err := d.Unlock(context.Background(), "work", code); err != nil {
		t.Fatal(err)
	}
	before := e.Count("GetSessionToken")
	_, err := d.Unlock(context.Background(), "work", code)
	if err == nil || !strings.Contains(err.Error(), "wait for the next code") {
		t.Fatalf("reused code: %v", err)
	}
	if e.Count("GetSessionToken") != before {
		t.Fatal("a reused code was sent to STS")
	}
}

func TestRoleRenewedHourlyWithoutCode(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	src := &fakeSource{err: mfacode.ErrNeedsHuman}
	d := newDaemon(t, e, src)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	if n := e.Count("AssumeRole"); n != 1 {
		t.Fatalf("AssumeRole calls %d", n)
	}
	first, _ := d.Credentials(ctx, "admin")
	if !first.Expiration.Equal(testenv.Start.Add(time.Hour)) {
		t.Fatalf("role served until %v", first.Expiration)
	}
	// Over 10 hours the role is renewed every 40 minutes (1h session, 20m
	// lead), with no code asked for.
	for i := 1; i <= 15; i++ {
		e.Clock.Advance(40 * time.Minute)
		testenv.WaitFor(t, "role renewal", func() bool { return e.Count("AssumeRole") == 1+i })
		testenv.WaitFor(t, "new role credentials", func() bool {
			c, err := d.Credentials(ctx, "admin")
			return err == nil && c.Expiration.After(e.Clock.Now().Add(20*time.Minute))
		})
	}
	if n := e.Count("GetSessionToken"); n != 1 {
		t.Fatalf("GetSessionToken calls %d: renewals must not need a code", n)
	}
	if src.calls.Load() != 0 {
		t.Fatalf("a code was asked for %d times before the session's end", src.calls.Load())
	}
}

func TestMFAWindowCapsServedExpiryAndAsksAhead(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFAMaxAge = time.Hour
	ctx := context.Background()
	src := &fakeSource{err: mfacode.ErrNeedsHuman}
	d := newDaemon(t, e, src)
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	c, _ := d.Credentials(ctx, "work")
	if want := testenv.Start.Add(time.Hour); !c.Expiration.Equal(want) {
		t.Fatalf("served %v, want the MFA window's end %v (12h session capped)", c.Expiration, want)
	}
	// Nothing asked before the lead...
	e.Clock.Set(testenv.Start.Add(44 * time.Minute))
	if src.calls.Load() != 0 || d.Status("work")[0].NeedCode {
		t.Fatal("code asked for too early")
	}
	// ...and asked at 45 minutes (15m lead before the 1h window).
	e.Clock.Set(testenv.Start.Add(45 * time.Minute))
	testenv.WaitFor(t, "code request", func() bool { return src.calls.Load() == 1 })
	if st := d.Status("work")[0]; !st.NeedCode || !strings.Contains(st.CodeReason, "MFA window") {
		t.Fatalf("status %+v", st)
	}
	// The window lapses with no code: the still-valid session is served,
	// status says so, and clients are told to come back soon.
	e.Clock.Set(testenv.Start.Add(61 * time.Minute))
	c2, err := d.Credentials(ctx, "work")
	if err != nil || c2.AccessKeyID != c.AccessKeyID {
		t.Fatalf("lapsed window: %v %v", c2, err)
	}
	if c2.Expiration.After(e.Clock.Now().Add(20*time.Minute)) || !c2.Expiration.After(e.Clock.Now().Add(15*time.Minute)) {
		t.Fatalf("lapsed window served until %v (now %v)", c2.Expiration, e.Clock.Now())
	}
	if st := d.Status("work")[0]; !st.WindowLapsed || !st.Unlocked {
		t.Fatalf("status %+v", st)
	}
	// It keeps asking.
	e.Clock.Advance(16 * time.Minute)
	testenv.WaitFor(t, "another code request", func() bool { return src.calls.Load() >= 2 })
	// A new code: the next fetch gets the new session and a new window.
	if _, err := d.Unlock(ctx, "work", e.NextCode()); err != nil {
		t.Fatal(err)
	}
	c3, _ := d.Credentials(ctx, "work")
	if c3.AccessKeyID == c.AccessKeyID || !c3.Expiration.Equal(e.Clock.Now().Add(time.Hour)) {
		t.Fatalf("after new code: %v (now %v)", c3, e.Clock.Now())
	}
	if st := d.Status("work")[0]; st.NeedCode || st.WindowLapsed {
		t.Fatalf("status after new code %+v", st)
	}
}

func TestAutomaticCodeSourceRenewsWithNoHuman(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFAMaxAge = time.Hour
	ctx := context.Background()
	src := &fakeSource{code: e.Code}
	d := newDaemon(t, e, src)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	// A day of windows: each renewed 15 minutes ahead by the source.
	for i := 1; i <= 24; i++ {
		e.Clock.Advance(45 * time.Minute)
		testenv.WaitFor(t, "automatic unlock", func() bool { return e.Count("GetSessionToken") >= 1+i })
		testenv.WaitFor(t, "fresh role", func() bool {
			st := d.Status("admin")[0]
			return !st.NeedCode && st.MFAAgeSeconds < 60 && st.ServedExpiration.Sub(e.Clock.Now()) > 45*time.Minute
		})
	}
	// Codes are never reused or wrong. (A role renewal in flight while the
	// test jumps the fake clock can meet a signature-time error; it is
	// retried, and is not what this test is about.)
	for _, c := range e.Emu.Calls() {
		if c.Action == "GetSessionToken" && c.ErrorCode != "" {
			t.Fatalf("STS error %s on %s: a code was sent twice or was wrong", c.ErrorCode, c.Action)
		}
	}
}

func TestConcurrentFetchesShareOneRenewal(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	before := e.Count("AssumeRole")
	// The role session expires while no timer runs (a suspended laptop):
	// jump the clock without firing timers by closing over them.
	e.Emu.InjectFault(stsemu.Fault{Action: "AssumeRole", Latency: 50 * time.Millisecond})
	e.Clock.Set(testenv.Start.Add(61 * time.Minute))
	var wg sync.WaitGroup
	var failures atomic.Int32
	var expired atomic.Int32
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Credentials(ctx, "admin")
			if err != nil {
				failures.Add(1)
				return
			}
			if !c.Expiration.After(e.Clock.Now()) {
				expired.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 || expired.Load() != 0 {
		t.Fatalf("%d failures, %d expired credentials", failures.Load(), expired.Load())
	}
	if n := e.Count("AssumeRole") - before; n != 1 {
		t.Fatalf("%d AssumeRole calls for 1000 concurrent fetches, want 1", n)
	}
}

func TestSTSOutageServesOldCredentialsThenRecovers(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	old, _ := d.Credentials(ctx, "admin")
	// STS fails from the renewal time (40m) for 5 minutes.
	e.Emu.InjectFault(stsemu.Fault{Action: "AssumeRole", Status: 503, Code: "ServiceUnavailable", Times: 1000})
	e.Clock.Set(testenv.Start.Add(40 * time.Minute))
	testenv.WaitFor(t, "a failed renewal", func() bool { return d.Status("admin")[0].LastError != "" })
	var attempts []time.Time
	for e.Clock.Now().Before(testenv.Start.Add(45 * time.Minute)) {
		c, err := d.Credentials(ctx, "admin")
		if err != nil || c.AccessKeyID != old.AccessKeyID {
			t.Fatalf("during the outage: %v %v", c, err)
		}
		st := d.Status("admin")[0]
		if st.NextRefresh.IsZero() {
			t.Fatal("no retry scheduled")
		}
		attempts = append(attempts, st.NextRefresh)
		e.Clock.Set(st.NextRefresh)
		time.Sleep(time.Millisecond)
		testenv.WaitFor(t, "retry", func() bool { return d.Status("admin")[0].NextRefresh.After(e.Clock.Now()) })
	}
	// Backoff: retries grow apart, and there were few of them.
	if len(attempts) < 3 || len(attempts) > 20 {
		t.Fatalf("%d retries in 5 minutes", len(attempts))
	}
	if gap1, gapN := attempts[1].Sub(attempts[0]), attempts[len(attempts)-1].Sub(attempts[len(attempts)-2]); gapN <= gap1 {
		t.Fatalf("no backoff: first gap %v, last gap %v", gap1, gapN)
	}
	e.Emu.ClearFaults()
	e.Clock.Set(d.Status("admin")[0].NextRefresh)
	testenv.WaitFor(t, "recovery", func() bool {
		c, err := d.Credentials(ctx, "admin")
		return err == nil && c.AccessKeyID != old.AccessKeyID
	})
	if st := d.Status("admin")[0]; st.LastError != "" {
		t.Fatalf("error kept after recovery: %s", st.LastError)
	}
}

func TestWallClockJumpNeverServesExpired(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unlock(ctx, "admin", e.NextCode()); err != nil {
		t.Fatal(err)
	}
	// The machine sleeps 13 hours: the MFA session (12h) has expired.
	e.Clock.Set(testenv.Start.Add(13 * time.Hour))
	for _, p := range []string{"work", "admin"} {
		c, err := d.Credentials(ctx, p)
		if err == nil {
			t.Fatalf("%s: served credentials expiring %v after the session ended", p, c.Expiration)
		}
		if !errors.Is(err, daemon.ErrLocked) {
			t.Fatalf("%s: %v", p, err)
		}
	}
}
