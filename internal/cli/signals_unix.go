//go:build !windows

package cli

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are passed on to the child of `mfad exec`.
func forwardedSignals() []os.Signal {
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
}

// isForeground reports whether this process is in the foreground process
// group of terminal f: a background job (`mfad daemon &`) that reads from
// its terminal is stopped by SIGTTIN.
func isForeground(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return pgrp == unix.Getpgrp()
}

// reloadSignals make the daemon read its configuration again.
func reloadSignals() []os.Signal { return []os.Signal{syscall.SIGHUP} }
