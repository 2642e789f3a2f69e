package keystore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// lockFile takes an exclusive advisory lock on path (created 0600, its
// directory 0700), waiting until it is free or ctx ends. The returned func
// releases it. Where the platform has no advisory locks the lock is a no-op,
// and the in-process mutexes remain the only guard.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the directory of lock file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file %s: %w", path, err)
	}
	wait := 5 * time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		if ok {
			return func() {
				_ = unlockFile(f)
				_ = f.Close()
			}, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("gave up waiting for lock file %s, held by another mfad process: %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// ctxMutex is a mutex whose lock gives up when ctx ends, so a caller is not
// stuck behind another goroutine waiting on a keyring, a prompt or a lock.
type ctxMutex chan struct{}

func newCtxMutex() ctxMutex { return make(ctxMutex, 1) }

// lock takes the mutex, or returns ctx.Err() if ctx ends first.
func (m ctxMutex) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock releases the mutex.
func (m ctxMutex) unlock() { <-m }
