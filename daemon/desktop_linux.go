//go:build linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// systemd-logind's D-Bus names.
const (
	login1Name     = "org.freedesktop.login1"
	login1Path     = dbus.ObjectPath("/org/freedesktop/login1")
	login1Manager  = "org.freedesktop.login1.Manager"
	login1Session  = "org.freedesktop.login1.Session"
	login1User     = "org.freedesktop.login1.User"
	dbusProperties = "org.freedesktop.DBus.Properties"
	dbusBus        = "org.freedesktop.DBus"
)

// busCallTimeout bounds each call to logind or the bus.
const busCallTimeout = 5 * time.Second

// logindWatch follows logind's sleep and screen lock events for one daemon.
type logindWatch struct {
	d    *Daemon
	conn *dbus.Conn
	// owner is logind's unique bus name: only its signals count.
	owner string
	// sleep and session say what is watched; session is "" when the
	// screen lock is not.
	sleep   bool
	session dbus.ObjectPath
	// locked is set once the session's screen lock has locked the daemon,
	// so that the Lock signal and the LockedHint that follows lock once.
	locked bool
	// inhibitor holds logind's delay lock, which gives the daemon time to
	// lock before the system sleeps.
	inhibitor *os.File
}

// watchDesktop locks every profile on logind's PrepareForSleep(true) (when
// sleep) and on the session's Lock signal or LockedHint (when screen),
// until ctx ends. Without a system bus or logind it logs once and returns.
func (d *Daemon) watchDesktop(ctx context.Context, o DesktopOptions, sleep, screen bool) {
	conn, err := connectBus(ctx, o.SystemBus)
	if err != nil {
		d.log.Info("the system bus is unavailable: profiles are not locked on sleep or screen lock; lock with `mfad lock --all`",
			"lock_on_sleep", sleep, "lock_on_screen_lock", screen, "error", err)
		return
	}
	defer conn.Close()
	w := &logindWatch{d: d, conn: conn, sleep: sleep}
	defer w.release()
	signals := make(chan *dbus.Signal, 32)
	conn.Signal(signals)
	if err := w.setup(ctx, o.SessionID, screen); err != nil {
		d.log.Info("systemd-logind cannot be watched: profiles are not locked on sleep or screen lock; lock with `mfad lock --all`",
			"lock_on_sleep", sleep, "lock_on_screen_lock", screen, "error", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-signals:
			if !ok {
				if ctx.Err() == nil {
					d.log.Info("the system bus connection closed: profiles are no longer locked on sleep or screen lock until the daemon restarts")
				}
				return
			}
			w.handle(ctx, sig)
		}
	}
}

// connectBus connects to the bus at addr, or to the system bus when addr
// is "". The connection closes when ctx ends.
func connectBus(ctx context.Context, addr string) (*dbus.Conn, error) {
	if addr == "" {
		return dbus.ConnectSystemBus(dbus.WithContext(ctx))
	}
	return dbus.Connect(addr, dbus.WithContext(ctx))
}

// setup finds logind and the session, and subscribes to their signals.
func (w *logindWatch) setup(ctx context.Context, sessionID string, screen bool) error {
	// Follow logind restarts: its unique name changes and its old delay
	// lock is gone.
	if err := w.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(dbusBus), dbus.WithMatchInterface(dbusBus),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, login1Name)); err != nil {
		return fmt.Errorf("subscribe to bus name changes: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, busCallTimeout)
	defer cancel()
	if err := w.conn.BusObject().CallWithContext(cctx, dbusBus+".GetNameOwner", 0, login1Name).Store(&w.owner); err != nil {
		return fmt.Errorf("systemd-logind (%s) is not on the bus: %w", login1Name, err)
	}
	if w.sleep {
		if err := w.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(login1Name), dbus.WithMatchObjectPath(login1Path),
			dbus.WithMatchInterface(login1Manager), dbus.WithMatchMember("PrepareForSleep")); err != nil {
			return fmt.Errorf("subscribe to PrepareForSleep: %w", err)
		}
		w.inhibit(ctx)
	}
	if screen {
		path, err := w.findSession(ctx, sessionID)
		if err != nil {
			w.d.log.Info("no desktop session found: profiles are not locked on screen lock", "error", err)
			if !w.sleep {
				return errors.New("nothing left to watch")
			}
		} else {
			for _, m := range [][]dbus.MatchOption{
				{dbus.WithMatchInterface(login1Session), dbus.WithMatchMember("Lock")},
				{dbus.WithMatchInterface(login1Session), dbus.WithMatchMember("Unlock")},
				{dbus.WithMatchInterface(dbusProperties), dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchArg(0, login1Session)},
			} {
				opts := append([]dbus.MatchOption{dbus.WithMatchSender(login1Name), dbus.WithMatchObjectPath(path)}, m...)
				if err := w.conn.AddMatchSignalContext(ctx, opts...); err != nil {
					return fmt.Errorf("subscribe to the session's screen lock: %w", err)
				}
			}
			w.session = path
		}
	}
	w.d.log.Debug("watching systemd-logind", "lock_on_sleep", w.sleep, "session", string(w.session), "delay_lock", w.inhibitor != nil)
	return nil
}

// findSession returns the object path of the logind session whose screen
// lock counts: the one named id, else this process's, else the user's
// graphical ("display") session.
func (w *logindWatch) findSession(ctx context.Context, id string) (dbus.ObjectPath, error) {
	ctx, cancel := context.WithTimeout(ctx, busCallTimeout)
	defer cancel()
	mgr := w.conn.Object(login1Name, login1Path)
	var path dbus.ObjectPath
	if id != "" {
		if err := mgr.CallWithContext(ctx, login1Manager+".GetSession", 0, id).Store(&path); err != nil {
			return "", fmt.Errorf("logind session %q: %w", id, err)
		}
		return path, nil
	}
	pidErr := mgr.CallWithContext(ctx, login1Manager+".GetSessionByPID", 0, uint32(os.Getpid())).Store(&path)
	if pidErr == nil {
		return path, nil
	}
	var user dbus.ObjectPath
	if err := mgr.CallWithContext(ctx, login1Manager+".GetUser", 0, uint32(os.Getuid())).Store(&user); err != nil {
		return "", fmt.Errorf("this process is in no session (%v), and logind knows no user %d: %w", pidErr, os.Getuid(), err)
	}
	var display dbus.Variant
	if err := w.conn.Object(login1Name, user).CallWithContext(ctx, dbusProperties+".Get", 0, login1User, "Display").Store(&display); err != nil {
		return "", fmt.Errorf("the graphical session of user %d: %w", os.Getuid(), err)
	}
	if fields, ok := display.Value().([]any); ok && len(fields) == 2 {
		if p, ok := fields[1].(dbus.ObjectPath); ok && p != "/" && p.IsValid() {
			return p, nil
		}
	}
	return "", fmt.Errorf("this process is in no session (%v), and user %d has no graphical session", pidErr, os.Getuid())
}

// handle acts on one signal.
func (w *logindWatch) handle(ctx context.Context, sig *dbus.Signal) {
	if sig.Name == dbusBus+".NameOwnerChanged" {
		if sig.Sender == dbusBus && len(sig.Body) == 3 {
			name, _ := sig.Body[0].(string)
			owner, _ := sig.Body[2].(string)
			if name == login1Name {
				w.d.log.Info("systemd-logind restarted", "owner", owner)
				w.owner = owner
				w.release()
				if w.sleep && owner != "" {
					w.inhibit(ctx)
				}
			}
		}
		return
	}
	if sig.Sender != w.owner {
		// The bus only routes logind's signals here; anything else is not
		// logind's word.
		w.d.log.Debug("ignoring a signal not sent by systemd-logind", "signal", sig.Name, "sender", sig.Sender)
		return
	}
	switch {
	case w.sleep && sig.Path == login1Path && sig.Name == login1Manager+".PrepareForSleep":
		if len(sig.Body) != 1 {
			return
		}
		if start, _ := sig.Body[0].(bool); start {
			w.d.lockFor(ctx, "sleep")
			// Locked: let the system sleep.
			w.release()
		} else {
			w.inhibit(ctx)
		}
	case w.session == "" || sig.Path != w.session:
		// Not the watched session.
	case sig.Name == login1Session+".Lock":
		w.screenLocked(ctx, true)
	case sig.Name == login1Session+".Unlock":
		w.screenLocked(ctx, false)
	case sig.Name == dbusProperties+".PropertiesChanged":
		if len(sig.Body) < 2 {
			return
		}
		if iface, _ := sig.Body[0].(string); iface != login1Session {
			return
		}
		changed, _ := sig.Body[1].(map[string]dbus.Variant)
		if v, ok := changed["LockedHint"]; ok {
			if locked, ok := v.Value().(bool); ok {
				w.screenLocked(ctx, locked)
			}
		}
	}
}

// screenLocked records the session's screen lock state and locks every
// profile when it becomes locked.
func (w *logindWatch) screenLocked(ctx context.Context, locked bool) {
	was := w.locked
	w.locked = locked
	if locked && !was {
		w.d.lockFor(ctx, "screen lock")
	}
}

// inhibit takes logind's delay lock for sleep, so that PrepareForSleep(true)
// comes early enough to lock. Without it, the daemon locks as the system
// goes to sleep, which usually suffices.
func (w *logindWatch) inhibit(ctx context.Context) {
	if w.inhibitor != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, busCallTimeout)
	defer cancel()
	var fd dbus.UnixFD
	err := w.conn.Object(login1Name, login1Path).CallWithContext(ctx, login1Manager+".Inhibit", 0,
		"sleep", "mfad", "Lock AWS sessions before sleep", "delay").Store(&fd)
	if err != nil {
		w.d.log.Debug("could not take logind's delay lock; profiles are locked as the system goes to sleep", "error", err)
		return
	}
	// Received descriptors are inheritable: keep this one out of the
	// programs the daemon runs (mfa_process, dialogs), which would hold
	// the system awake.
	syscall.CloseOnExec(int(fd))
	w.inhibitor = os.NewFile(uintptr(fd), "logind delay lock")
}

// release gives logind's delay lock back.
func (w *logindWatch) release() {
	if w.inhibitor != nil {
		w.inhibitor.Close()
		w.inhibitor = nil
	}
}
