package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// A wrong mfa_serial is reported as such, not as a wrong code, and the code
// stays usable: AWS checks the device before the code.
func TestWrongSerialIsNotAWrongCode(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	right := e.Config.Profiles["work"].MFASerial
	e.Config.Profiles["work"].MFASerial = strings.TrimSuffix(right, "alice") + "bob"
	d := newDaemon(t, e, nil)
	code := e.Code()
	for i := range 2 {
		_, err := d.Unlock(ctx, "work", code)
		if !errors.Is(err, session.ErrWrongMFASerial) {
			t.Fatalf("attempt %d: %v, want a wrong-serial error", i, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "mfa_serial") || !strings.Contains(msg, "arn:aws:iam::") || strings.Contains(msg, "code was wrong") {
			t.Fatalf("attempt %d: %q", i, msg)
		}
	}
	// Fixed, the same code unlocks.
	e.Config.Profiles["work"].MFASerial = right
	if _, err := d.Unlock(ctx, "work", code); err != nil {
		t.Fatalf("the code refused with a wrong serial was treated as used: %v", err)
	}
	// A wrong code is still a wrong code, and a code is accepted once.
	if _, err := d.Unlock(ctx, "work", code); err == nil || errors.Is(err, session.ErrWrongMFASerial) {
		t.Fatalf("reused code: %v", err)
	}
}

// Locking a role profile locks that profile only: its source's MFA session
// and stored session stay, and the role is not assumed again behind the
// user's back. Unlocking it needs no code while the MFA session lasts.
func TestLockRoleProfileOnly(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	work, err := d.Credentials(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	locked, err := d.Lock(ctx, "admin")
	if err != nil || strings.Join(locked, ",") != "admin" {
		t.Fatalf("locked %v %v", locked, err)
	}
	if c, err := d.Credentials(ctx, "work"); err != nil || c.AccessKeyID != work.AccessKeyID {
		t.Fatalf("work after locking admin: %v %v", c, err)
	}
	if _, err := e.Store.Get(ctx, "work", keystore.SessionItem); err != nil {
		t.Fatalf("work's stored MFA session: %v", err)
	}
	if _, err := e.Store.Get(ctx, "admin", keystore.RoleSessionItem); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("admin's role session still stored: %v", err)
	}
	assumes := e.Count("AssumeRole")
	e.Clock.Advance(time.Minute) // timers that would renew the role fire
	_, err = d.Credentials(ctx, "admin")
	if !errors.Is(err, daemon.ErrLocked) || !strings.Contains(err.Error(), "mfad unlock admin") {
		t.Fatalf("admin after lock: %v", err)
	}
	if n := e.Count("AssumeRole") - assumes; n != 0 {
		t.Fatalf("a locked role was assumed %d times", n)
	}
	if st := d.Status("admin")[0]; st.Unlocked || !st.RoleLocked {
		t.Fatalf("status %+v", st)
	}
	// A restart keeps it locked.
	d.Close()
	d = newDaemon(t, e, nil)
	e.Clock.Advance(time.Minute)
	if _, err := d.Credentials(ctx, "admin"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("admin after a restart: %v", err)
	}
	if _, err := d.Credentials(ctx, "work"); err != nil {
		t.Fatalf("work after a restart: %v", err)
	}
	if n := e.Count("AssumeRole") - assumes; n != 0 {
		t.Fatalf("a locked role was assumed %d times after a restart", n)
	}
	// No code needed: the MFA session is valid.
	gst := e.Count("GetSessionToken")
	if _, err := d.Unlock(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Credentials(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if e.Count("GetSessionToken") != gst {
		t.Fatal("unlocking a locked role called GetSessionToken")
	}
	if _, err := e.Store.Get(ctx, "admin", keystore.LockedItem); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("lock mark left after unlock: %v", err)
	}
	// Locking the key profile still locks everything made from it.
	if locked, err := d.Lock(ctx, "work"); err != nil || strings.Join(locked, ",") != "admin,work" && strings.Join(locked, ",") != "work,admin" {
		t.Fatalf("lock work: %v %v", locked, err)
	}
	if _, err := d.Unlock(ctx, "admin", ""); err == nil {
		t.Fatal("a role unlocked with no code while its MFA session is locked")
	}
}

// A role profile locked on its own stays locked when a configuration
// reload changes its settings.
func TestLockedRoleSurvivesReload(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newDaemon(t, e, nil)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	assumes := e.Count("AssumeRole")
	cfg := cloneConfig(e.Config)
	cfg.Profiles["admin"].RoleSessionName = "renamed"
	if err := d.Reload(ctx, func() (*configs.Config, error) { return cfg, nil }); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	if _, err := d.Credentials(ctx, "admin"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("admin after a reload: %v", err)
	}
	if n := e.Count("AssumeRole") - assumes; n != 0 {
		t.Fatalf("a locked role was assumed %d times after a reload", n)
	}
}
