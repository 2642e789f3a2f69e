package ipc

import (
	"errors"
	"fmt"

	"github.com/c0950fac/mfad/internal/fileutil"
)

// lockSocket takes an exclusive lock on path+".lock" so that two daemons
// starting at once cannot both decide the socket is stale and replace each
// other's. The returned func releases the lock (as does the process's
// exit). The lock file itself is left in place.
func lockSocket(path string) (unlock func(), err error) {
	unlock, err = fileutil.TryLock(path + ".lock")
	switch {
	case errors.Is(err, fileutil.ErrLocked):
		return nil, daemonRunningError(path)
	case err != nil:
		return nil, fmt.Errorf("locking the mfad control socket: %w", err)
	}
	return unlock, nil
}
