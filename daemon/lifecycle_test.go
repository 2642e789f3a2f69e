package daemon_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
)

// daemonGoroutines returns the headers of the goroutines that code of
// package daemon started.
func daemonGoroutines() map[string]bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]bool{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/c0950fac/mfad/daemon.") {
			header, _, _ := strings.Cut(g, " [")
			out[header] = true
		}
	}
	return out
}

// New starts nothing, even with the desktop watcher configured: Run does.
func TestNewStartsNoGoroutine(t *testing.T) {
	e := testenv.New(t)
	e.Config.LockOnSleep, e.Config.LockOnScreenLock = true, true
	before := daemonGoroutines()
	d, err := daemon.New(daemon.Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger,
		Desktop: daemon.DesktopOptions{SystemBus: "unix:path=" + t.TempDir() + "/no-bus"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for g := range daemonGoroutines() {
		if !before[g] {
			t.Errorf("daemon.New started %s", g)
		}
	}
}
