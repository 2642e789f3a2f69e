package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c0950fac/mfad/internal/clock"
)

// waitExit returns nil once process pid has exited, or ctx.Err().
func waitExit(ctx context.Context, clk clock.Clock, pid int) error {
	fd, err := unix.PidfdOpen(pid, unix.O_NONBLOCK)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil
	case err == nil:
		if err := waitPidfd(ctx, fd); err == nil || ctx.Err() != nil {
			return err
		}
	}
	// No pidfd (a kernel before 5.3, a seccomp filter): /proc on a timer.
	start := procStart(pid)
	if start == "" {
		return nil
	}
	return pollExit(ctx, clk, func() bool { return procStart(pid) == start })
}

// waitPidfd waits for a pidfd to become readable (its process exited)
// through the runtime's poller.
func waitPidfd(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	err = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return err == nil && n > 0
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// procStart returns the start time of process pid from /proc (which tells
// a process from a later one with the same pid), or "" when it is gone.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// Fields after the command name, which is in parentheses and may hold
	// anything: state is field 3, starttime field 22.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || f[0][0] == 'Z' || f[0][0] == 'X' {
		return ""
	}
	return string(f[19])
}

// processAlive reports whether process pid exists (and is not a zombie).
func processAlive(pid int) bool { return pid > 0 && procStart(pid) != "" }
