//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package fileutil

import "os"

// tryLock is a no-op where no advisory lock is available: only mutexes
// within one process then serialise writers.
func tryLock(*os.File) (bool, error) { return true, nil }

// unlockFile is a no-op where no advisory lock is available.
func unlockFile(*os.File) error { return nil }
