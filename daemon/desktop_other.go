//go:build !linux

package daemon

import (
	"context"
	"runtime"
)

// watchDesktop has nothing to watch on this system: sleep and screen lock
// events come from systemd-logind, which only Linux has.
func (d *Daemon) watchDesktop(ctx context.Context, _ DesktopOptions, sleep, screen bool) {
	d.log.Info("lock_on_sleep and lock_on_screen_lock work on Linux only; they are ignored here: lock with `mfad lock --all`",
		"goos", runtime.GOOS, "lock_on_sleep", sleep, "lock_on_screen_lock", screen)
}
