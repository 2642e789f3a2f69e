package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
)

func TestLoginFromTheRoleSession(t *testing.T) {
	e := testenv.New(t)
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.SigninEndpoint = e.Emu.URL + stsemu.FederationPath })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	r, err := d.Login(ctx, ipc.LoginRequest{Profile: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	info, ok := e.Emu.CheckLoginURL(r.URL)
	served, _ := d.Credentials(ctx, "admin")
	if !ok || info.AccessKeyID != served.AccessKeyID || r.RoleARN != e.RoleARN || !strings.Contains(info.Destination, "eu-west-1.console.aws.amazon.com") {
		t.Fatalf("login %+v: %+v %v", r, info, ok)
	}
	testenv.AssertNoSecret(t, "the daemon log", e.Log.String(), r.URL[strings.Index(r.URL, "SigninToken="):])

	// An IAM user's keys never reach the console.
	if _, err := d.Login(ctx, ipc.LoginRequest{Profile: "work"}); err == nil || !strings.Contains(err.Error(), "GetFederationToken") {
		t.Fatalf("login work: %v", err)
	}
	// A role profile locked on its own stays locked for --duration too.
	if _, err := d.Lock(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Login(ctx, ipc.LoginRequest{Profile: "admin", DurationSeconds: 1800}); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("login of a locked role profile: %v", err)
	}
}

// TestLoginSessionEndOnThisMachinesClock: this machine's clock runs 45
// minutes ahead of AWS's. The console session's end is told on this
// machine's clock, as every other expiry is.
func TestLoginSessionEndOnThisMachinesClock(t *testing.T) {
	e := testenv.New(t)
	e.Emu.SetClockOffset(-45 * time.Minute)
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.SigninEndpoint = e.Emu.URL + stsemu.FederationPath })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "admin", e.Emu.Code(e.User, e.Emu.Now())); err != nil {
		t.Fatal(err)
	}
	for _, req := range []ipc.LoginRequest{{Profile: "admin"}, {Profile: "admin", DurationSeconds: 1800}} {
		r, err := d.Login(ctx, req)
		if err != nil {
			t.Fatalf("login %+v: %v", req, err)
		}
		life := time.Hour
		if req.DurationSeconds != 0 {
			life = time.Duration(req.DurationSeconds) * time.Second
		}
		if want := e.Clock.Now().Add(life); r.SessionEnd.Sub(want).Abs() > 2*time.Second {
			t.Errorf("login %+v: the session ends at %v, want about %v (on this machine's clock)", req, r.SessionEnd, want)
		}
	}
}
