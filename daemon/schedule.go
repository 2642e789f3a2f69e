package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/c0950fac/mfad/mfacode"
)

// scheduleLocked arms k's one timer for the next thing due among its
// profiles: a role renewal, a retry after a failure, or asking for a new MFA
// code. Nothing polls: with no event due, no timer runs. d.mu is held.
func (d *Daemon) scheduleLocked(k *keyState, now time.Time) {
	if d.closed {
		return
	}
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if k.mfa != nil && k.mfa.Valid(now, 0) {
		for _, p := range k.dependents {
			if !p.isRole() || p.locked {
				continue
			}
			var due time.Time
			switch {
			case p.failures > 0:
				due = p.retryAt
			case p.role == nil:
				due = now
			default:
				due = p.renewAt
			}
			// A renewal under way schedules what follows when it ends.
			if p.kicked.Load() && !due.After(now) {
				continue
			}
			consider(due)
		}
		if k.needCode {
			switch {
			case k.codeBusy:
				// A code fetch is under way; it reschedules when it ends.
			case !k.codeRetryAt.IsZero():
				consider(k.codeRetryAt)
			default:
				consider(now)
			}
		} else {
			consider(codeDueAt(k))
		}
		if max := k.prof.MFAMaxAge; max > 0 {
			if w := k.mfa.MFAAt.Add(max); w.After(now) {
				consider(w) // to log the lapse and rebuild snapshots
			}
		}
		consider(k.mfa.Expires())
	}
	if next.IsZero() {
		if k.timer != nil {
			k.timer.Stop()
			k.timer = nil
		}
		return
	}
	if k.timer != nil && k.timerAt.Equal(next) {
		return
	}
	if k.timer != nil {
		k.timer.Stop()
	}
	// Armed at the deadline itself, not after next-now: the clock may have
	// moved since now was read, and the timer must not fire that much later.
	k.timerAt = next
	k.timer = d.clock.At(next, func() { d.service(k) })
}

// service does what is due for k and re-arms its timer.
func (d *Daemon) service(k *keyState) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	k.timer = nil
	now := d.clock.Now()
	var kicks []*profState
	startCode := false
	if k.mfa != nil && !k.mfa.Valid(now, 0) {
		d.log.Warn("MFA session expired", "profile", k.name)
		k.mfa = nil
		// Expired, not locked: any code source may renew it.
		k.held = false
		for _, p := range k.dependents {
			p.role = nil
		}
	}
	if k.mfa != nil {
		for _, p := range k.dependents {
			if p.isRole() && !p.locked && !now.Before(p.retryAt) &&
				(p.role == nil || !now.Before(p.renewAt)) {
				kicks = append(kicks, p)
			}
		}
		if max := k.prof.MFAMaxAge; max > 0 && !now.Before(k.mfa.MFAAt.Add(max)) && now.Before(k.mfa.MFAAt.Add(max).Add(time.Second)) {
			d.log.Warn("MFA window closed with no new code: serving the current session; actions that require a recent MFA will be denied until `mfad unlock`", "profile", k.name, "mfa_max_age", max)
		}
		if due := codeDueAt(k); !now.Before(due) {
			if !k.needCode {
				k.needCode = true
				k.codeReason = d.codeReason(k)
				k.codeRetryAt = time.Time{}
				d.log.Warn("a new MFA code is needed", "profile", k.name, "reason", k.codeReason)
			}
			if !k.codeBusy && !now.Before(k.codeRetryAt) {
				startCode = true
			}
		}
	}
	d.rebuildLocked(k, now)
	d.scheduleLocked(k, now)
	d.mu.Unlock()
	for _, p := range kicks {
		d.kick(p)
	}
	if startCode {
		d.mu.Lock()
		if !d.closed {
			d.startFetchLocked(k, "")
		}
		d.mu.Unlock()
	}
}

// codeReason says why a code is wanted. d.mu is held.
func (d *Daemon) codeReason(k *keyState) string {
	end := k.mfa.Expires()
	what := "MFA session"
	if max := k.prof.MFAMaxAge; max > 0 {
		if w := k.mfa.MFAAt.Add(max); w.Before(end) {
			end, what = w, fmt.Sprintf("MFA window (mfa_max_age %s)", max)
		}
	}
	return fmt.Sprintf("the %s of profile %s ends at %s", what, k.name, end.Local().Format("15:04"))
}

// fetchCode asks k's code source for a code and unlocks with it. A source
// that needs a person announces the need; `mfad unlock` then brings the code.
// ctx ends when k is locked or the daemon stops; gen is k.lockGen when the
// fetch started.
func (d *Daemon) fetchCode(ctx context.Context, k *keyState, gen uint64) {
	d.mu.Lock()
	reason := k.codeReason
	d.mu.Unlock()
	err := d.tryCode(ctx, k, reason, gen)
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	k.codeBusy = false
	k.codeResult = err
	k.codeCancel = nil
	close(k.codeDone)
	if k.lockGen != gen {
		// Locked meanwhile: the lock reset what this fetch would change.
		return
	}
	if err == nil || !k.needCode {
		// Done, or unlocked meanwhile; a new need may have arisen while
		// this fetch ran.
		d.scheduleLocked(k, now)
		return
	}
	if errors.Is(err, mfacode.ErrNeedsHuman) {
		// Keep asking, at a pace a person can bear.
		k.codeErr = ""
		k.codeRetryAt = now.Add(mfaLead(k.prof))
	} else {
		k.codeAttempts++
		k.codeErr = err.Error()
		k.codeRetryAt = now.Add(backoff(k.codeAttempts))
		d.log.Warn("could not get an MFA code automatically", "profile", k.name, "attempt", k.codeAttempts, "retry_at", k.codeRetryAt, "error", err)
	}
	d.scheduleLocked(k, now)
}

func (d *Daemon) tryCode(ctx context.Context, k *keyState, reason string, gen uint64) error {
	if d.source == nil {
		return mfacode.ErrNeedsHuman
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := d.source(ctx, k.prof)
	if err != nil {
		return err
	}
	// A person answering a desktop dialog gets the dialog's own time; the
	// automatic sources get two minutes.
	limit := 2 * time.Minute
	if src.Name() == mfacode.SourcePrompt {
		limit = mfacode.DefaultDialogTimeout + time.Minute
	}
	ctx, cancel = context.WithTimeout(ctx, limit)
	defer cancel()
	src = d.guard.Wrap(src)
	code, err := src.Code(ctx, mfacode.Request{Profile: k.name, MFASerial: k.prof.MFASerial, Reason: reason})
	if err != nil {
		return err
	}
	d.mu.Lock()
	var locked error
	if k.lockGen != gen {
		locked = lockedError(k.dependents[0])
	}
	d.mu.Unlock()
	if locked != nil {
		d.log.Info("a code arrived after the profile was locked: not unlocking it", "profile", k.name)
		return locked
	}
	return d.unlockKey(ctx, k, code, &gen)
}
