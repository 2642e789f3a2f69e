package daemon

import (
	"context"
	"fmt"
)

// passphraseStore is a keystore that waits for its passphrase
// (keystore.Pending): the daemon serves its control socket meanwhile, and
// `mfad unlock` gives the passphrase over it.
type passphraseStore interface {
	NeedsPassphrase() bool
	Unlock(ctx context.Context, passphrase []byte) error
	File() string
}

// keystoreWaiting returns the keystore file waiting for its passphrase, or
// "" when the keystore is open.
func (d *Daemon) keystoreWaiting() string {
	if ps, ok := d.store.(passphraseStore); ok && ps.NeedsPassphrase() {
		return ps.File()
	}
	return ""
}

// GivePassphrase opens a keystore that waits for its passphrase, then
// restores the sessions cached in it. The passphrase bytes are cleared.
func (d *Daemon) GivePassphrase(ctx context.Context, passphrase []byte) error {
	ps, ok := d.store.(passphraseStore)
	if !ok || !ps.NeedsPassphrase() {
		clear(passphrase)
		return nil
	}
	// The key derivation runs on as many threads as it was made with.
	release := d.par.hold()
	err := ps.Unlock(ctx, passphrase)
	release()
	if err != nil {
		d.log.Warn("the keystore passphrase was refused", "file", ps.File(), "error", err)
		return fmt.Errorf("keystore file %s: %w", ps.File(), err)
	}
	d.log.Info("keystore opened", "file", ps.File())
	if err := d.Restore(ctx); err != nil {
		d.log.Warn("some cached sessions could not be restored; unlock those profiles again", "error", err)
	}
	return nil
}
