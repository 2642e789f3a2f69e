package keystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrPassphraseNeeded reports that a Pending store has not been given its
// passphrase yet. Test for it with errors.Is.
var ErrPassphraseNeeded = errors.New("the keystore waits for its passphrase")

// Pending is a file-backend Store opened without a passphrase: a daemon
// started with no terminal (a service, `mfad daemon &`) serves its control
// socket while it waits, and `mfad unlock` gives the passphrase over that
// socket. Until then every operation fails with ErrPassphraseNeeded.
type Pending struct {
	file string
	open func(ctx context.Context, passphrase []byte) (Store, error)

	mu sync.RWMutex
	s  Store
}

// NewPending returns a Pending store for the keystore file path; open opens
// it with a passphrase (OpenFile with that passphrase, usually).
func NewPending(path string, open func(ctx context.Context, passphrase []byte) (Store, error)) *Pending {
	return &Pending{file: path, open: open}
}

// File is the keystore file the passphrase is for.
func (p *Pending) File() string { return p.file }

// NeedsPassphrase reports whether the passphrase is still missing.
func (p *Pending) NeedsPassphrase() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.s == nil
}

// Unlock opens the store with passphrase and clears the passphrase bytes.
// A wrong passphrase leaves the store waiting; once open, Unlock does
// nothing more.
func (p *Pending) Unlock(ctx context.Context, passphrase []byte) error {
	defer clear(passphrase)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		return nil
	}
	if len(passphrase) == 0 {
		return fmt.Errorf("an empty passphrase cannot open keystore file %s", p.file)
	}
	s, err := p.open(ctx, passphrase)
	if err != nil {
		return err
	}
	p.s = s
	return nil
}

func (p *Pending) store() (Store, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.s == nil {
		return nil, fmt.Errorf("keystore file %s is locked: give its passphrase with `mfad unlock`: %w", p.file, ErrPassphraseNeeded)
	}
	return p.s, nil
}

// Backend returns "file".
func (p *Pending) Backend() string { return BackendFile }

// Get implements Store.
func (p *Pending) Get(ctx context.Context, profile string, item Item) ([]byte, error) {
	s, err := p.store()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, profile, item)
}

// Set implements Store.
func (p *Pending) Set(ctx context.Context, profile string, item Item, value []byte) error {
	s, err := p.store()
	if err != nil {
		return err
	}
	return s.Set(ctx, profile, item, value)
}

// Delete implements Store.
func (p *Pending) Delete(ctx context.Context, profile string, item Item) error {
	s, err := p.store()
	if err != nil {
		return err
	}
	return s.Delete(ctx, profile, item)
}

// Profiles implements Store.
func (p *Pending) Profiles(ctx context.Context) ([]string, error) {
	s, err := p.store()
	if err != nil {
		return nil, err
	}
	return s.Profiles(ctx)
}
