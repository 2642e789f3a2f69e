package daemon_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/mfacode"
)

// gatedSource is a code source that answers the code valid on e's clock
// once released, and counts its calls.
type gatedSource struct {
	e       *testenv.Env
	name    string
	mu      sync.Mutex
	calls   int
	release chan struct{}
	err     error
	// deaf sources do not stop when asked to (a code is on its way).
	deaf bool
}

func (g *gatedSource) Name() string { return g.name }
func (g *gatedSource) Code(ctx context.Context, req mfacode.Request) (string, error) {
	g.mu.Lock()
	g.calls++
	rel, err := g.release, g.err
	g.mu.Unlock()
	if rel != nil && g.deaf {
		<-rel
	} else if rel != nil {
		select {
		case <-rel:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err != nil {
		return "", err
	}
	return g.e.Code(), nil
}

func (g *gatedSource) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

func TestLockedProcessProfileAsksItsSourceOnDemand(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFASource = configs.MFASourceProcess
	src := &gatedSource{e: e, name: mfacode.SourceProcess, release: make(chan struct{})}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	// Every request while the source runs answers at once: locked.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Credentials(ctx, "admin"); !errors.Is(err, daemon.ErrLocked) {
				t.Errorf("a request while the source runs: %v", err)
			}
		}()
	}
	wg.Wait()
	testenv.WaitFor(t, "the source to be asked", func() bool { return src.count() == 1 })
	close(src.release)
	testenv.WaitFor(t, "the profile to be served", func() bool {
		_, err := d.Credentials(ctx, "admin")
		return err == nil
	})
	if n := src.count(); n != 1 {
		t.Fatalf("the source was asked %d times", n)
	}
	if n := e.Count("GetSessionToken"); n != 2 {
		t.Fatalf("%d GetSessionToken calls", n)
	}
}

func TestLockDuringAFetchWins(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFASource = configs.MFASourceProcess
	src := &gatedSource{e: e, name: mfacode.SourceProcess, release: make(chan struct{}), deaf: true}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("never unlocked: %v", err)
	}
	testenv.WaitFor(t, "the source to be asked", func() bool { return src.count() == 1 })
	if _, err := d.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	close(src.release)
	// The code that arrives after the lock does not unlock.
	testenv.WaitFor(t, "the late code to be dropped", func() bool {
		return strings.Contains(e.Log.String(), "after the profile was locked")
	})
	if st := d.Status("work")[0]; st.Unlocked {
		t.Fatal("a code fetched before the lock unlocked the profile")
	}
	// A new request asks again.
	if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("after the lock: %v", err)
	}
	testenv.WaitFor(t, "the profile to be served", func() bool {
		_, err := d.Credentials(ctx, "work")
		return err == nil
	})
	if n := src.count(); n != 2 {
		t.Fatalf("the source was asked %d times", n)
	}
}

func TestPromptAnnouncesOnceThenRateLimits(t *testing.T) {
	e := testenv.New(t)
	src := &gatedSource{e: e, name: mfacode.SourcePrompt, err: mfacode.ErrNeedsHuman}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	for range 10 {
		if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
			t.Fatalf("locked prompt profile: %v", err)
		}
	}
	testenv.WaitFor(t, "the announcement", func() bool { return src.count() == 1 })
	// Wait until the announcement has been handled, then ask again.
	testenv.WaitFor(t, "the retry time", func() bool {
		d.Credentials(ctx, "work")
		return src.count() == 1
	})
	e.Clock.Advance(16 * time.Minute) // past mfa_lead
	d.Credentials(ctx, "work")
	testenv.WaitFor(t, "a second announcement", func() bool { return src.count() == 2 })
}

func TestLockedTOTPProfileHoldsUntilUnlock(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFASource = configs.MFASourceTOTP
	src := &gatedSource{e: e, name: mfacode.SourceTOTP}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.Clock.Advance(10 * time.Minute)
		if _, err := d.Credentials(ctx, "admin"); !errors.Is(err, daemon.ErrLocked) {
			t.Fatalf("a locked totp profile was served: %v", err)
		}
	}
	if n := src.count(); n != 0 {
		t.Fatalf("the totp source was asked %d times while locked", n)
	}
	// `mfad unlock` with no typed code: the daemon's source gives it.
	st, err := d.UnlockFromSource(ctx, "admin")
	if err != nil || !st.Unlocked || st.RoleExpiration.IsZero() {
		t.Fatalf("UnlockFromSource: %+v %v", st, err)
	}
	if _, err := d.Credentials(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if n := src.count(); n != 1 {
		t.Fatalf("the totp source was asked %d times", n)
	}
}

func TestExpiredTOTPSessionRenewsFromItsSource(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFASource = configs.MFASourceTOTP
	src := &gatedSource{e: e, name: mfacode.SourceTOTP, err: errors.New("the TOTP secret is unreadable")}
	d := newDaemon(t, e, src)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	// The source fails while the session runs out: it expires, not locked.
	e.Clock.Advance(12*time.Hour + time.Minute)
	testenv.WaitFor(t, "the session to expire", func() bool { return !d.Status("work")[0].Unlocked })
	src.mu.Lock()
	src.err = nil
	src.calls = 0
	src.mu.Unlock()
	e.Clock.Advance(10 * time.Minute) // past any backoff
	if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("an expired session was served: %v", err)
	}
	testenv.WaitFor(t, "the totp source to renew it", func() bool {
		_, err := d.Credentials(ctx, "work")
		return err == nil
	})
	if n := src.count(); n != 1 {
		t.Fatalf("the totp source was asked %d times after the expiry", n)
	}
}

func TestRestartKeepsLocksButNotExpiries(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].MFASource = configs.MFASourceTOTP
	ctx := context.Background()
	first := newDaemon(t, e, nil)
	if _, err := first.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	first.Close()

	// The cached session expired while no daemon ran: renewed on demand.
	e.Clock.Advance(13 * time.Hour)
	src := &gatedSource{e: e, name: mfacode.SourceTOTP}
	d := newDaemon(t, e, src)
	if _, err := d.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("an expired session was served: %v", err)
	}
	testenv.WaitFor(t, "the totp source to renew it", func() bool {
		_, err := d.Credentials(ctx, "work")
		return err == nil
	})
	if _, err := d.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	d.Close()

	// Locked, then restarted: the lock holds.
	src2 := &gatedSource{e: e, name: mfacode.SourceTOTP}
	d2 := newDaemon(t, e, src2)
	for range 3 {
		if _, err := d2.Credentials(ctx, "work"); !errors.Is(err, daemon.ErrLocked) {
			t.Fatalf("a locked totp profile was served after a restart: %v", err)
		}
	}
	if n := src2.count(); n != 0 {
		t.Fatalf("the totp source was asked %d times for a locked profile", n)
	}
}
