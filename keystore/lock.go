package keystore

import (
	"context"
)

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
