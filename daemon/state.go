package daemon

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/session"
)

// keyState is the MFA session of one key profile (a profile holding
// long-term keys) and what depends on it.
type keyState struct {
	name string
	prof *configs.Profile
	mfa  *session.Session
	// dependents are the profiles served from this key profile's MFA session:
	// itself (when it has no role) and every role profile using it.
	dependents []*profState
	// needCode is set while a new MFA code is wanted; codeReason says why.
	needCode   bool
	codeReason string
	codeErr    string
	// codeAttempts counts failed automatic code attempts, for backoff.
	codeAttempts int
	codeRetryAt  time.Time
	codeBusy     bool
	// codeDone is closed when the code fetch under way ends; codeResult is
	// its outcome. codeCancel stops it (`mfad lock`).
	codeDone   chan struct{}
	codeResult error
	codeCancel context.CancelFunc
	// held is set while the profile is locked on purpose (`mfad lock`, sleep,
	// screen lock) or has no cached session at start: a code source with no
	// person in the loop (totp) does not unlock it, only `mfad unlock` does.
	// An expired session — at run time or in the cache — is not held.
	held bool
	// lockGen counts locks: a code fetched before a lock must not unlock.
	lockGen uint64
	timer   clock.Timer
	timerAt time.Time
	// keyMu is held while the stored access key is read for an unlock or
	// replaced by a rotation.
	keyMu sync.Mutex
	// keyID and keyCreated describe the stored access key, as last read.
	keyID      string
	keyCreated time.Time
	// shortLife is the lifetime of the MFA session when it was shorter than
	// mfa_lead (logged once, shown in status), else 0.
	shortLife time.Duration
}

// profState is one served profile.
type profState struct {
	name string
	prof *configs.Profile
	key  *keyState
	// role is the role session (role profiles only).
	role *session.Session
	// served is what the endpoint hands out; nil when nothing is servable.
	served atomic.Pointer[snapshot]
	// renewAt is when the role session is next due for renewal (see
	// nextRenewal).
	renewAt time.Time
	// shortLife is the lifetime of the role session when it was shorter
	// than refresh_lead (logged once, shown in status), else 0.
	shortLife time.Duration
	// refresh backoff after failed role renewals.
	failures int
	retryAt  time.Time
	lastErr  string
	kicked   atomic.Bool
	// locked is set by `mfad lock` on a role profile: its role is not
	// assumed again until it is unlocked, though its key profile's MFA
	// session stays valid.
	locked bool
}

// setRole makes rs p's role session and schedules its renewal. d.mu is
// held.
func (d *Daemon) setRoleLocked(p *profState, rs *session.Session) {
	p.role = rs
	p.renewAt = nextRenewal(rs.IssuedAt, rs.Expires(), refreshLead(p.prof), minRenewGap)
	p.shortLife = d.noteLifetime(p.name, "refresh_lead", rs.Lifetime(), refreshLead(p.prof), p.shortLife)
}

// noteLifetime logs, once rather than at every renewal, that STS issues
// credentials shorter than a profile's lead, and when that ends. It
// returns the new value of the profile's shortLife.
func (d *Daemon) noteLifetime(profile, leadName string, life, lead time.Duration, was time.Duration) time.Duration {
	if life > lead {
		if was > 0 {
			d.log.Info("STS issues credentials longer than the lead again", "profile", profile, "lifetime", life.Round(time.Second), leadName, lead)
		}
		return 0
	}
	if was == 0 {
		d.log.Warn("STS issues credentials that last less than the lead: renewing them at half their life, never more than once a minute",
			"profile", profile, "lifetime", life.Round(time.Second), leadName, lead)
	}
	return max(life, time.Nanosecond)
}

// minRenewGap is the least time between two renewals of one profile.
const minRenewGap = time.Minute

// nextRenewal is when credentials obtained at got and expiring at exp are
// due for renewal: lead before they expire, but never sooner than half
// their life after got, nor sooner than minGap after it. Whatever STS
// returns — credentials shorter than the lead, or a clock that makes them
// look so — a role profile (minGap minRenewGap) renews at most once a
// minute.
func nextRenewal(got, exp time.Time, lead, minGap time.Duration) time.Time {
	at := exp.Add(-lead)
	floor := max(exp.Sub(got)/2, minGap)
	if f := got.Add(floor); at.Before(f) {
		at = f
	}
	return at
}

// isRole reports whether the profile assumes a role.
func (p *profState) isRole() bool { return p.prof.RoleARN != "" }

// current returns the session whose credentials this profile serves.
func (p *profState) current() *session.Session {
	if p.isRole() {
		return p.role
	}
	return p.key.mfa
}

// snapshot is a prepared response: built when credentials change, served
// as is on the hot path.
type snapshot struct {
	body []byte
	// contentLength is the Content-Length header value of body.
	contentLength []string
	// creds are the served credentials (for credential-process and exec).
	creds session.Credentials
	// expires is the Expiration served to clients.
	expires time.Time
	// staleAt (unix nanoseconds) is when the snapshot must be rebuilt.
	staleAt int64
	// refreshAt (unix nanoseconds) is when a background renewal is due.
	refreshAt int64
}

// containerCreds is the container credentials provider's response body.
type containerCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	AccountID       string `json:"AccountId,omitempty"`
}

// expiryFormat is the Expiration form every SDK accepts (UTC with Z).
const expiryFormat = "2006-01-02T15:04:05Z"

// lapsedServe is how long credentials are served for once an MFA window has
// lapsed, so that clients come back soon for the session a new code makes.
const lapsedServe = 20 * time.Minute

// lapsedRebuild is how often a lapsed snapshot is rebuilt.
const lapsedRebuild = 5 * time.Minute

// minServe is the least remaining lifetime worth serving: time for a client
// to sign and send a request. Renewals are due well before (nextRenewal).
const minServe = 10 * time.Second

// buildSnapshot prepares what p serves at now, or nil when nothing is valid.
func buildSnapshot(p *profState, now time.Time) *snapshot {
	s := p.current()
	if s == nil || !s.Valid(now, minServe) {
		return nil
	}
	exp := s.Expires()
	served := exp
	stale := exp.Add(-minServe)
	if max := p.key.prof.MFAMaxAge; max > 0 {
		w := s.MFAAt.Add(max)
		if now.Before(w) {
			if w.Before(served) {
				served = w
				stale = w
			}
		} else {
			if c := now.Add(lapsedServe); c.Before(served) {
				served = c
			}
			if c := now.Add(lapsedRebuild); c.Before(stale) {
				stale = c
			}
		}
	}
	refresh := int64(1<<63 - 1)
	if p.isRole() {
		at := p.renewAt
		if p.failures > 0 && p.retryAt.After(at) {
			at = p.retryAt
		}
		refresh = at.UnixNano()
	}
	body, _ := json.Marshal(containerCreds{
		AccessKeyID:     s.Credentials.AccessKeyID,
		SecretAccessKey: s.Credentials.SecretAccessKey,
		Token:           s.Credentials.SessionToken,
		Expiration:      served.UTC().Format(expiryFormat),
		AccountID:       s.Credentials.AccountID,
	})
	c := s.Credentials
	c.Expiration = served
	return &snapshot{body: body, contentLength: []string{strconv.Itoa(len(body))}, creds: c, expires: served, staleAt: stale.UnixNano(), refreshAt: refresh}
}

func refreshLead(p *configs.Profile) time.Duration {
	if p.RefreshLead > 0 {
		return p.RefreshLead
	}
	return 20 * time.Minute
}

func mfaLead(p *configs.Profile) time.Duration {
	if p.MFALead > 0 {
		return p.MFALead
	}
	return 15 * time.Minute
}

// codeDueAt is when a new MFA code should be asked for: mfa_lead before the
// MFA window closes or the MFA session ends, whichever is first — but, as
// for renewals, never sooner than half the session's useful life after it
// was issued. (No minute's floor: the window must not close first, and a
// code is used at most once per 30-second step anyway.)
func codeDueAt(k *keyState) time.Time {
	if k.mfa == nil {
		return time.Time{}
	}
	return nextRenewal(k.mfa.IssuedAt, mfaEnd(k), mfaLead(k.prof), 0)
}

// mfaEnd is when k's MFA session stops being useful: its expiry, or the
// end of its MFA window when that is sooner.
func mfaEnd(k *keyState) time.Time {
	end := k.mfa.Expires()
	if max := k.prof.MFAMaxAge; max > 0 {
		if w := k.mfa.MFAAt.Add(max); w.Before(end) {
			end = w
		}
	}
	return end
}

// backoff returns the wait before retry n (1-based): exponential from 5s,
// capped at 5 minutes, with full jitter over its upper half.
func backoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return d/2 + rand.N(d/2+1)
}
