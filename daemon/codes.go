package daemon

import (
	"context"
	"fmt"

	"github.com/c0950fac/mfad/configs"
)

// startFetchLocked starts asking k's code source for a code, unless a fetch
// is under way, and returns a channel closed when that fetch ends. reason,
// when not "", says why the code is wanted. d.mu is held and the daemon is
// not closed.
func (d *Daemon) startFetchLocked(k *keyState, reason string) <-chan struct{} {
	if k.codeBusy {
		return k.codeDone
	}
	k.codeBusy = true
	k.needCode = true
	if reason != "" {
		k.codeReason = reason
	}
	k.codeDone = make(chan struct{})
	ctx, cancel := context.WithCancel(d.bg)
	k.codeCancel = cancel
	gen := k.lockGen
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		d.fetchCode(ctx, k, gen)
	}()
	return k.codeDone
}

// askOnDemand starts a code fetch for a locked key profile a client asked
// for, when its source may be asked now: a person is in the loop (process:
// a YubiKey touch; prompt: a notification, and a dialog where configured),
// or the session expired rather than being locked. A totp profile locked on
// purpose stays locked until `mfad unlock`. Failed or announced attempts
// are not repeated before their retry time, so a stream of requests
// announces once.
func (d *Daemon) askOnDemand(k *keyState) {
	if d.source == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	switch {
	case d.closed, k.codeBusy, now.Before(k.codeRetryAt):
		return
	case k.mfa != nil && k.mfa.Valid(now, minServe):
		return
	case k.held && k.prof.MFASource == configs.MFASourceTOTP:
		return
	}
	d.log.Info("a client asked for a locked profile: asking its code source", "profile", k.name, "mfa_source", k.prof.MFASource)
	d.startFetchLocked(k, fmt.Sprintf("a program asked for the credentials of locked profile %s", k.name))
}

// UnlockFromSource unlocks name's key profile with a code from its
// configured source (`mfad unlock` with no code given): mfa_process, the
// TOTP secret, or the prompt's dialog. It waits for the fetch — one already
// under way, or a new one — and returns name's status.
func (d *Daemon) UnlockFromSource(ctx context.Context, name string) (ProfileStatus, error) {
	p, err := d.profile(name)
	if err != nil {
		return ProfileStatus{}, err
	}
	if d.source == nil {
		return ProfileStatus{}, fmt.Errorf("this daemon has no code sources: give the code with `mfad unlock %s`", p.key.name)
	}
	k := p.key
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ProfileStatus{}, fmt.Errorf("the daemon is stopping")
	}
	done := d.startFetchLocked(k, fmt.Sprintf("`mfad unlock %s`", k.name))
	d.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ProfileStatus{}, ctx.Err()
	}
	d.mu.Lock()
	err = k.codeResult
	d.mu.Unlock()
	if err != nil {
		return ProfileStatus{}, err
	}
	if p.isRole() {
		if _, err := d.renewRole(ctx, p); err != nil {
			return d.Status(name)[0], fmt.Errorf("MFA session of %s is unlocked, but: %w", k.name, err)
		}
	}
	return d.Status(name)[0], nil
}
