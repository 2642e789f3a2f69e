//go:build !windows

package cli

import (
	"os"
	"syscall"
)

// forwardedSignals are passed on to the child of `mfad exec`.
func forwardedSignals() []os.Signal {
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
}
