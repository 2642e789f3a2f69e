//go:build linux

package daemon_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/mfacode"
)

const (
	fakeSessionPath = dbus.ObjectPath("/org/freedesktop/login1/session/c7")
	fakeUserPath    = dbus.ObjectPath("/org/freedesktop/login1/user/_1000")
)

// privateBus starts a D-Bus daemon of the test's own and returns its
// address. The test is skipped where dbus-daemon is not installed.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (Debian: apt-get install dbus)")
	}
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.SafeBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon's messages:\n%s", stderr)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(line)
}

// fakeLogind owns org.freedesktop.login1 on a private bus and answers the
// calls the daemon makes.
type fakeLogind struct {
	conn *dbus.Conn

	mu       sync.Mutex
	calls    []string
	inhibits int
	// pipe is the last delay lock handed out: its read end sees EOF when
	// every holder has closed the write end.
	pipeR, pipeW *os.File
}

func (f *fakeLogind) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeLogind) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

// fakeManager is org.freedesktop.login1.Manager.
type fakeManager struct{ f *fakeLogind }

func (m fakeManager) GetSession(id string) (dbus.ObjectPath, *dbus.Error) {
	m.f.record("GetSession " + id)
	return "", dbus.NewError("org.freedesktop.login1.NoSuchSession", []any{"No session '" + id + "' known"})
}

func (m fakeManager) GetSessionByPID(pid uint32) (dbus.ObjectPath, *dbus.Error) {
	m.f.record("GetSessionByPID")
	return "", dbus.NewError("org.freedesktop.login1.NoSessionForPID", []any{"PID does not belong to any known session"})
}

func (m fakeManager) GetUser(uid uint32) (dbus.ObjectPath, *dbus.Error) {
	m.f.record("GetUser")
	return fakeUserPath, nil
}

func (m fakeManager) Inhibit(what, who, why, mode string) (dbus.UnixFD, *dbus.Error) {
	m.f.record("Inhibit " + what + " " + mode)
	r, w, err := os.Pipe()
	if err != nil {
		return 0, dbus.MakeFailedError(err)
	}
	m.f.mu.Lock()
	m.f.inhibits++
	m.f.pipeR, m.f.pipeW = r, w
	m.f.mu.Unlock()
	return dbus.UnixFD(w.Fd()), nil
}

// fakeUserProps is org.freedesktop.DBus.Properties of the user object.
type fakeUserProps struct{}

func (fakeUserProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	if iface == "org.freedesktop.login1.User" && prop == "Display" {
		return dbus.MakeVariant(struct {
			ID   string
			Path dbus.ObjectPath
		}{"c7", fakeSessionPath}), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
}

func startFakeLogind(t *testing.T, addr string) *fakeLogind {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeLogind{conn: conn}
	if err := conn.Export(fakeManager{f}, "/org/freedesktop/login1", "org.freedesktop.login1.Manager"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(fakeUserProps{}, fakeUserPath, "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.login1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.login1: %v %v", reply, err)
	}
	return f
}

func (f *fakeLogind) emit(t *testing.T, path dbus.ObjectPath, name string, body ...any) {
	t.Helper()
	if err := f.conn.Emit(path, name, body...); err != nil {
		t.Fatal(err)
	}
}

// desktopDaemon is a daemon on the test world that watches the bus at addr.
func desktopDaemon(t *testing.T, e *testenv.Env, addr string) *daemon.Daemon {
	t.Helper()
	e.Config.LockOnSleep, e.Config.LockOnScreenLock = true, true
	d, err := daemon.New(daemon.Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger,
		Guard: mfacode.NewOnceGuard(e.Clock.Now, func(ctx context.Context, d time.Duration) error {
			e.Clock.Advance(d)
			return nil
		}),
		Desktop: daemon.DesktopOptions{SystemBus: addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	// The watcher runs while the daemon serves.
	dir, err := os.MkdirTemp("", "mfad-desk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, daemon.RunOptions{RuntimeDir: dir, Listen: "127.0.0.1:0", Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

func unlocked(d *daemon.Daemon) bool { return d.Status("work")[0].Unlocked }

func TestLockOnSleepAndScreenLock(t *testing.T) {
	addr := privateBus(t)
	logind := startFakeLogind(t, addr)
	e := testenv.New(t)
	ctx := context.Background()
	d := desktopDaemon(t, e, addr)
	testenv.WaitFor(t, "the watcher", func() bool { return strings.Contains(e.Log.String(), "watching systemd-logind") })
	// A daemon in no session (a systemd user service) watches the user's
	// graphical session.
	for _, c := range []string{"GetSessionByPID", "GetUser", "Inhibit sleep delay"} {
		if !logind.called(c) {
			t.Errorf("the watcher did not call %s", c)
		}
	}
	if !strings.Contains(e.Log.String(), "session="+string(fakeSessionPath)) {
		t.Errorf("the watcher does not watch %s:\n%s", fakeSessionPath, e.Log.String())
	}
	// The daemon holds the delay lock now: drop the test's copy.
	logind.mu.Lock()
	pipeR := logind.pipeR
	logind.pipeW.Close()
	logind.mu.Unlock()
	released := make(chan struct{})
	go func() {
		io.Copy(io.Discard, pipeR)
		close(released)
	}()

	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	// Another program's PrepareForSleep does not count.
	spoof, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spoof.Close()
	if err := spoof.Emit("/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", true); err != nil {
		t.Fatal(err)
	}

	// The screen locks (loginctl lock-session): every profile is locked.
	logind.emit(t, fakeSessionPath, "org.freedesktop.login1.Session.Lock")
	testenv.WaitFor(t, "lock on Session.Lock", func() bool { return !unlocked(d) })
	if strings.Contains(e.Log.String(), "on sleep") {
		t.Fatal("a PrepareForSleep from another bus client locked the daemon")
	}

	// The screen is unlocked; later the desktop locks it again and says so
	// with LockedHint, as GNOME and KDE do.
	if _, err := d.Unlock(ctx, "work", e.NextCode()); err != nil {
		t.Fatal(err)
	}
	hint := func(v bool) map[string]dbus.Variant {
		return map[string]dbus.Variant{"LockedHint": dbus.MakeVariant(v)}
	}
	logind.emit(t, fakeSessionPath, "org.freedesktop.DBus.Properties.PropertiesChanged", "org.freedesktop.login1.Session", hint(false), []string{})
	logind.emit(t, fakeSessionPath, "org.freedesktop.DBus.Properties.PropertiesChanged", "org.freedesktop.login1.Session", hint(true), []string{})
	testenv.WaitFor(t, "lock on LockedHint", func() bool { return !unlocked(d) })

	// The system goes to sleep: locked, then the delay lock is released.
	if _, err := d.Unlock(ctx, "work", e.NextCode()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-released:
		t.Fatal("the delay lock was released before sleep")
	default:
	}
	logind.emit(t, "/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", true)
	testenv.WaitFor(t, "lock on sleep", func() bool { return !unlocked(d) })
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the delay lock was not released after locking")
	}
	if !strings.Contains(e.Log.String(), "locked every profile on sleep") {
		t.Errorf("log:\n%s", e.Log.String())
	}
	// On resume the daemon takes a new delay lock for the next sleep.
	logind.emit(t, "/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", false)
	testenv.WaitFor(t, "a new delay lock", func() bool {
		logind.mu.Lock()
		defer logind.mu.Unlock()
		return logind.inhibits == 2
	})
}

func TestDesktopWatchWithoutBus(t *testing.T) {
	e := testenv.New(t)
	d := desktopDaemon(t, e, "unix:path="+t.TempDir()+"/no-bus")
	testenv.WaitFor(t, "the log line", func() bool { return strings.Contains(e.Log.String(), "the system bus is unavailable") })
	if n := strings.Count(e.Log.String(), "system bus is unavailable"); n != 1 {
		t.Errorf("logged %d times", n)
	}
	if !strings.Contains(e.Log.String(), "level=INFO msg=\"the system bus is unavailable") {
		t.Errorf("not logged at info:\n%s", e.Log.String())
	}
	// The daemon works as before.
	if _, err := d.Unlock(context.Background(), "work", e.Code()); err != nil {
		t.Fatal(err)
	}
}

func TestDesktopWatchWithoutLogind(t *testing.T) {
	addr := privateBus(t)
	e := testenv.New(t)
	d := desktopDaemon(t, e, addr)
	testenv.WaitFor(t, "the log line", func() bool { return strings.Contains(e.Log.String(), "systemd-logind cannot be watched") })
	if _, err := d.Unlock(context.Background(), "work", e.Code()); err != nil {
		t.Fatal(err)
	}
}
