//go:build unix && !linux

package daemon

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/c0950fac/mfad/internal/clock"
)

// waitExit returns nil once process pid has exited, or ctx.Err(): it checks
// with kill(pid, 0) on a timer.
func waitExit(ctx context.Context, clk clock.Clock, pid int) error {
	return pollExit(ctx, clk, func() bool { return processAlive(pid) })
}

// processAlive reports whether process pid exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
