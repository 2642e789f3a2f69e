package daemon

import (
	"context"
	"time"
)

// DesktopOptions connect the daemon to the desktop session: with the
// configuration's lock_on_sleep and lock_on_screen_lock, it locks every
// profile when the system is about to sleep or the screen locks. Only Linux
// (systemd-logind on the system bus) is supported; elsewhere the keys are
// logged as ignored.
type DesktopOptions struct {
	// SystemBus is the D-Bus address logind is reached at; "" is the system
	// bus ($DBUS_SYSTEM_BUS_ADDRESS, else the standard socket).
	SystemBus string
	// SessionID is the logind session whose screen lock locks the daemon;
	// "" picks the session this process runs in, else the user's graphical
	// session (a daemon run as a systemd user service is in none).
	SessionID string
}

// lockTimeout bounds one LockAll started by a desktop event.
const lockTimeout = 30 * time.Second

// lockFor locks every profile because of a desktop event.
func (d *Daemon) lockFor(ctx context.Context, why string) {
	ctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	names, err := d.LockAll(ctx)
	if err != nil {
		d.log.Warn("locking on "+why+" failed in part; check `mfad status`", "profiles", names, "error", err)
		return
	}
	d.log.Info("locked every profile on "+why, "profiles", names)
}

// startDesktop starts watching the desktop when the configuration asks
// for it. The watcher stops when the daemon closes.
func (d *Daemon) startDesktop() {
	o := d.desktop
	sleep, screen := d.t().cfg.LockOnSleep, d.t().cfg.LockOnScreenLock
	if !sleep && !screen {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.watchDesktop(d.bg, o, sleep, screen)
	}()
}
