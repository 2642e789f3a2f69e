package fileutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrLocked is returned by TryLock when another open file holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive advisory lock on the file at path (created with
// mode 0600, its directory with 0700, when missing), waiting until it is
// free or ctx ends. The returned func releases it; the lock is also
// released when the process exits. The lock file is left in place. Where
// the platform has no advisory locks, Lock succeeds at once and guards
// nothing.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	wait := 5 * time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		if ok {
			return releaser(f), nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("gave up waiting for lock file %s, held by another mfad process: %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// TryLock is Lock without waiting: when another process holds the lock it
// returns an error wrapping ErrLocked.
func TryLock(path string) (unlock func(), err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(f)
	switch {
	case err != nil:
		_ = f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	case !ok:
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	return releaser(f), nil
}

func openLockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the directory of lock file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file %s: %w", path, err)
	}
	return f, nil
}

func releaser(f *os.File) func() {
	return func() {
		_ = unlockFile(f)
		_ = f.Close()
	}
}
