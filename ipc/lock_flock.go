//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ipc

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockSocket takes an exclusive lock on path+".lock" so that two daemons
// starting at once cannot both decide the socket is stale and replace each
// other's. The lock is released when the returned file is closed (or the
// process exits). The lock file itself is left in place.
func lockSocket(path string) (io.Closer, error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the mfad control socket lock %s: %w", lockPath, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, daemonRunningError(path)
	default:
		f.Close()
		return nil, fmt.Errorf("locking the mfad control socket lock %s: %w", lockPath, err)
	}
}
