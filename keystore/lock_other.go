//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package keystore

import "os"

// tryLock is a no-op where flock is not available: within one process the
// backends' mutexes still serialise writes.
func tryLock(*os.File) (bool, error) { return true, nil }

// unlockFile is a no-op where flock is not available.
func unlockFile(*os.File) error { return nil }
