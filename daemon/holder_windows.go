package daemon

import (
	"context"

	"golang.org/x/sys/windows"

	"github.com/c0950fac/mfad/internal/clock"
)

// waitExit returns nil once process pid has exited, or ctx.Err(): it checks
// the process's exit code on a timer.
func waitExit(ctx context.Context, clk clock.Clock, pid int) error {
	return pollExit(ctx, clk, func() bool { return processAlive(pid) })
}

// processAlive reports whether process pid is still running.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	const stillActive = 259
	return code == stillActive
}
