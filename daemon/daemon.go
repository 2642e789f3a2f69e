// Package daemon is mfad's long-running core: it holds each profile's MFA
// and role sessions, renews them ahead of expiry and of MultiFactorAuthAge
// windows, asks for new MFA codes ahead of time, and serves the credentials
// to SDKs through a container-credentials endpoint and to the mfad CLI
// through the control socket.
//
// No SDK request ever waits for a person: while a profile is locked the
// endpoint answers at once with an error that says how to unlock it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/mfacode"
	"github.com/c0950fac/mfad/session"
)

// Options configure a Daemon.
type Options struct {
	// Config is the loaded configuration.
	Config *configs.Config
	// Store keeps keys, cached sessions and TOTP secrets.
	Store keystore.Store
	// Broker calls STS.
	Broker *session.Broker
	// Clock drives every time decision; nil = the system clock.
	Clock clock.Clock
	// Logger receives the daemon's log; nil = discard.
	Logger *slog.Logger
	// CodeSource returns the MFA code source of a key profile; nil = codes
	// come only from `mfad unlock`. ctx bounds the code request the source
	// is built for.
	CodeSource func(ctx context.Context, p *configs.Profile) (mfacode.Source, error)
	// Guard enforces that no code is used twice; nil = a guard on Clock.
	Guard *mfacode.OnceGuard
	// Audit receives the audit log, one JSON line (audit.Entry) per
	// credentials request and token event; nil = none.
	Audit io.Writer
	// SuggestMaxAge returns the MFA age window a key profile's policy files
	// demand, when mfa_max_age is unset; nil = no suggestions.
	SuggestMaxAge func(p *configs.Profile) (time.Duration, bool)
	// Desktop says where to watch for sleep and screen lock when the
	// configuration sets lock_on_sleep or lock_on_screen_lock (while Run
	// serves).
	Desktop DesktopOptions
	// IAMEndpoint overrides the IAM endpoint key rotation calls ("" = AWS's).
	IAMEndpoint string
	// SigninEndpoint overrides the console federation endpoint ("" = AWS's
	// for each profile's partition).
	SigninEndpoint string
}

// Daemon holds sessions and serves credentials. Create it with New.
type Daemon struct {
	// tab is the configuration and the state of its profiles; Reload
	// replaces it whole, so readers load it once per use.
	tab    atomic.Pointer[table]
	store  keystore.Store
	broker *session.Broker
	clock  clock.Clock
	log    *slog.Logger
	source func(ctx context.Context, p *configs.Profile) (mfacode.Source, error)
	guard  *mfacode.OnceGuard
	// iamEndpoint and signinEndpoint override AWS's (Options).
	iamEndpoint, signinEndpoint string
	// desktop says what Run watches for sleep and screen lock.
	desktop DesktopOptions

	// mu guards the session state in keys and profiles (not snapshots, which
	// are atomic).
	mu sync.Mutex
	// reloadMu makes reloads take turns (Reload).
	reloadMu sync.Mutex
	sf       singleflight.Group
	tokens   *tokenRegistry
	audit    *audit.Log
	bad      *badTokens
	closed   bool
	// stopping is set while the daemon shuts down: client tokens are kept.
	stopping atomic.Bool
	// orphans are restored exec tokens waiting to be adopted (id → timer).
	orphans sync.Map
	// base is the endpoint's URL once it listens; runDir the runtime directory.
	base   string
	runDir string
	// suggest finds mfa_max_age values in key profiles' policy files.
	suggest func(p *configs.Profile) (time.Duration, bool)
	// cfgErr is why the last configuration change was refused ("" = none).
	cfgErr string
	// release returns freed memory to the system after credentials change.
	release memoryRelease
	// par runs the daemon on one P while clients ask one at a time; nil
	// unless RunOptions.Parallelism is set. Set by Run before it serves.
	par *parallelism
	// routes answer the control socket (see controlRoutes).
	routes map[string]route
	// bg is cancelled when the daemon stops; background work uses it.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a Daemon for every profile in the configuration. It starts
// nothing: Run serves and starts the daemon's background work, and the
// daemon's methods may be called without Run (renewal timers are armed by
// Unlock and Restore). Close releases it.
func New(o Options) (*Daemon, error) {
	if o.Config == nil || o.Store == nil || o.Broker == nil {
		return nil, errors.New("daemon: Config, Store and Broker are required")
	}
	d := &Daemon{store: o.Store, suggest: o.SuggestMaxAge, broker: o.Broker, clock: o.Clock, log: o.Logger,
		source: o.CodeSource, guard: o.Guard, desktop: o.Desktop, iamEndpoint: o.IAMEndpoint, signinEndpoint: o.SigninEndpoint,
	}
	if d.clock == nil {
		d.clock = clock.System{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.guard == nil {
		d.guard = mfacode.NewOnceGuard(d.clock.Now, nil)
	}
	d.tokens = newTokenRegistry()
	d.routes = controlRoutes()
	d.audit = audit.New(o.Audit, d.clock, d.log)
	d.bad = newBadTokens()
	d.bg, d.cancel = context.WithCancel(context.Background())
	tab, _, err := d.buildTable(o.Config, nil)
	if err != nil {
		return nil, err
	}
	d.tab.Store(tab)
	return d, nil
}

// Close stops background work and timers. Sessions stay cached in the
// keystore for the next start.
func (d *Daemon) Close() {
	d.mu.Lock()
	d.closed = true
	for _, k := range d.t().keys {
		if k.timer != nil {
			k.timer.Stop()
			k.timer = nil
		}
	}
	d.mu.Unlock()
	d.release.stop()
	d.cancel()
	d.wg.Wait()
	d.audit.Close()
}

// Restore loads cached sessions from the keystore, so that a restart needs
// no new MFA code. It makes no STS call.
func (d *Daemon) Restore(ctx context.Context) error {
	d.mu.Lock()
	ks := d.sortedKeys()
	d.mu.Unlock()
	return d.restoreKeys(ctx, ks)
}

// restoreKeyLocked loads k's cached MFA session and its role profiles'
// role sessions from the keystore. d.mu is held.
func (d *Daemon) restoreKeyLocked(ctx context.Context, k *keyState, now time.Time) error {
	// A cached session that expired while no daemon ran is not a lock
	// (`mfad lock` removes it): any code source may renew it.
	_, gerr := d.store.Get(ctx, k.name, keystore.SessionItem)
	cached := gerr == nil
	s, err := session.Load(ctx, d.store, k.name, now)
	if err != nil {
		return err
	}
	if s == nil && cached && k.mfa == nil {
		k.held = false
	}
	var errs []error
	if s != nil && s.Kind == session.KindMFA {
		k.mfa = s
		k.held = false
		k.shortLife = d.noteLifetime(k.name, "mfa_lead", s.Lifetime(), mfaLead(k.prof), k.shortLife)
		d.log.Info("restored MFA session", "profile", k.name, "session", s)
	}
	for _, p := range k.dependents {
		if !p.isRole() {
			continue
		}
		if _, err := d.store.Get(ctx, p.name, keystore.LockedItem); err == nil {
			p.locked = true
			d.log.Info("role profile locked on its own: not assumed until `mfad unlock`", "profile", p.name)
			continue
		} else if !errors.Is(err, keystore.ErrNotFound) {
			errs = append(errs, err)
		}
		if k.mfa == nil {
			continue
		}
		rs, err := session.LoadRole(ctx, d.store, p.name, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A role session made from an older MFA session carries an older
		// MFA age: only keep one made from the current MFA session.
		if rs != nil && rs.RoleARN == p.prof.RoleARN && rs.MFAAt.Equal(k.mfa.MFAAt) {
			d.setRoleLocked(p, rs)
			d.log.Info("restored role session", "profile", p.name, "session", rs)
		}
	}
	d.rebuildLocked(k, now)
	d.scheduleLocked(k, now)
	return errors.Join(errs...)
}

func (d *Daemon) sortedKeys() []*keyState {
	ks := make([]*keyState, 0, len(d.t().keys))
	for _, k := range d.t().keys {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].name < ks[j].name })
	return ks
}

// profile returns the state of a configured profile.
func (d *Daemon) profile(name string) (*profState, error) {
	t := d.t()
	p, ok := t.profiles[name]
	if !ok {
		if _, err := t.cfg.Profile(name); err != nil {
			if e := d.ConfigError(); e != "" {
				return nil, fmt.Errorf("%w (the daemon refused the last configuration change: %s)", err, e)
			}
			return nil, err
		}
		return nil, fmt.Errorf("profile %s is configured but not served by this daemon: `mfad list` says why", name)
	}
	return p, nil
}

// ErrLocked reports that a profile has no valid MFA session. It is the
// control protocol's CodeLocked: the CLI gets it back through errors.Is.
const ErrLocked = ipc.CodeLocked

// lockedError says how to unlock a profile.
func lockedError(p *profState) error {
	if p.locked {
		return fmt.Errorf("profile %s is %w: run `mfad unlock %s`", p.name, ErrLocked, p.name)
	}
	return fmt.Errorf("profile %s is %w: run `mfad unlock %s`", p.name, ErrLocked, p.key.name)
}

// lockedErr is lockedError with d.mu taken (p.locked is guarded by it).
func (d *Daemon) lockedErr(p *profState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return lockedError(p)
}

// Unlock exchanges code for an MFA session of name's key profile, then
// assumes name's role when it has one. It returns name's status. A role
// profile locked on its own while its key profile's MFA session is still
// valid is unlocked with no code ("").
func (d *Daemon) Unlock(ctx context.Context, name, code string) (ProfileStatus, error) {
	p, err := d.profile(name)
	if err != nil {
		return ProfileStatus{}, err
	}
	if code == "" && p.isRole() {
		d.mu.Lock()
		valid := p.key.mfa != nil && p.key.mfa.Valid(d.clock.Now(), minServe)
		if valid {
			p.locked = false
		}
		d.mu.Unlock()
		if valid {
			if err := d.store.Delete(ctx, p.name, keystore.LockedItem); err != nil {
				d.log.Warn("could not drop the lock mark; the profile is locked again after a restart", "profile", p.name, "error", err)
			}
			d.log.Info("unlocked", "profile", p.name)
			if _, err := d.renewRole(ctx, p); err != nil {
				return d.Status(name)[0], err
			}
			return d.Status(name)[0], nil
		}
	}
	if err := session.ValidateCode(code); err != nil {
		return ProfileStatus{}, err
	}
	k := p.key
	if err := d.guard.CheckHuman(k.prof.MFASerial, code, d.clock.Now()); err != nil {
		return ProfileStatus{}, err
	}
	if err := d.unlockKey(ctx, k, code, nil); err != nil {
		return ProfileStatus{}, err
	}
	if p.isRole() {
		if _, err := d.renewRole(ctx, p); err != nil {
			return d.Status(name)[0], fmt.Errorf("MFA session of %s is unlocked, but: %w", k.name, err)
		}
	}
	return d.Status(name)[0], nil
}

// unlockKey makes a new MFA session for k with code (single STS attempt).
// With gen set (a code a source fetched), the session is dropped when k was
// locked since *gen was read: a lock wins over a fetch under way.
func (d *Daemon) unlockKey(ctx context.Context, k *keyState, code string, gen *uint64) error {
	v, err, _ := d.sf.Do("unlock/"+k.name, func() (any, error) {
		// A rotation in progress decides which key is stored.
		k.keyMu.Lock()
		defer k.keyMu.Unlock()
		key, err := keystore.GetAccessKey(ctx, d.store, k.name)
		if err != nil {
			if errors.Is(err, keystore.ErrNotFound) {
				return nil, fmt.Errorf("profile %s has no access key in the %s keystore: add one with `mfad add %s`", k.name, d.store.Backend(), k.name)
			}
			return nil, err
		}
		d.noteKey(k, key)
		s, err := d.broker.GetSessionToken(ctx, session.UnlockInput{Profile: k.prof, Key: key, Code: code})
		// A code STS refused before checking it (a wrong mfa_serial, say)
		// was not used: it may be entered again once the cause is fixed.
		if session.CodeUsed(err) {
			d.guard.UsedCode(k.prof.MFASerial, code, d.clock.Now())
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	})
	if err != nil {
		return err
	}
	s := v.(*session.Session)
	d.mu.Lock()
	if gen != nil && k.lockGen != *gen {
		d.mu.Unlock()
		d.log.Info("a code arrived after the profile was locked: not unlocking it", "profile", k.name)
		return lockedError(k.dependents[0])
	}
	d.mu.Unlock()
	if err := session.Save(ctx, d.store, s); err != nil {
		d.log.Warn("could not cache MFA session; a restart will need a new code", "profile", k.name, "error", err)
	}
	now := d.clock.Now()
	d.mu.Lock()
	k.mfa = s
	k.held = false
	k.shortLife = d.noteLifetime(k.name, "mfa_lead", s.Lifetime(), mfaLead(k.prof), k.shortLife)
	k.needCode, k.codeReason, k.codeErr, k.codeAttempts = false, "", "", 0
	// Role sessions from the old MFA session carry its MFA age: renew them.
	var roles, wereLocked []*profState
	for _, p := range k.dependents {
		if p.isRole() {
			// A new code unlocks every profile made from it.
			if p.locked {
				wereLocked = append(wereLocked, p)
			}
			p.role, p.locked = nil, false
			p.failures, p.retryAt, p.lastErr = 0, time.Time{}, ""
			roles = append(roles, p)
		}
	}
	d.rebuildLocked(k, now)
	d.scheduleLocked(k, now)
	d.mu.Unlock()
	d.log.Info("unlocked", "profile", k.name, "session", s)
	for _, p := range wereLocked {
		if err := d.store.Delete(ctx, p.name, keystore.LockedItem); err != nil {
			d.log.Warn("could not drop the lock mark; the profile is locked again after a restart", "profile", p.name, "error", err)
		}
	}
	for _, p := range roles {
		if err := session.DropRole(ctx, d.store, p.name); err != nil {
			d.log.Warn("could not drop cached role session", "profile", p.name, "error", err)
		}
		d.kick(p)
	}
	d.learnKeyCreated(k)
	return nil
}

// renewRole assumes p's role from its key profile's MFA session. Concurrent
// callers share one STS call. When a new MFA session arrives during the
// call, the role is assumed again from it: a role session carries the MFA
// age of the session it was made from.
//
// Renewals keep to their schedule whoever asks: before the role session's
// renewAt, or while a failed renewal backs off, it makes no STS call and
// returns what is held (or an error when nothing is).
func (d *Daemon) renewRole(ctx context.Context, p *profState) (*snapshot, error) {
	ch := d.sf.DoChan("role/"+p.name, func() (any, error) {
		// STS calls are not tied to one client's request: a client that
		// gives up must not cancel the renewal the others wait for.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for attempt := 0; ; attempt++ {
			d.mu.Lock()
			mfa := p.key.mfa
			now := d.clock.Now()
			if p.locked || mfa == nil || !mfa.Valid(now, minServe) {
				d.mu.Unlock()
				return nil, lockedError(p)
			}
			current := p.role != nil && p.role.MFAAt.Equal(mfa.MFAAt)
			if current && now.Before(p.renewAt) {
				// Renewed meanwhile, or not due yet.
				return d.heldLocked(p, now)
			}
			if now.Before(p.retryAt) {
				return d.heldLocked(p, now)
			}
			d.mu.Unlock()
			rs, err := d.broker.AssumeRole(cctx, p.prof, mfa)
			now = d.clock.Now()
			d.mu.Lock()
			if p.locked {
				// Locked during the call: keep nothing.
				d.mu.Unlock()
				return nil, lockedError(p)
			}
			if p.key.mfa != mfa && attempt < 3 {
				// The MFA session changed during the call: whatever the
				// outcome, assume the role again from the new one.
				d.mu.Unlock()
				continue
			}
			if err == nil && current && p.role != nil && p.role.MFAAt.Equal(rs.MFAAt) && !rs.Credentials.Expiration.After(p.role.Credentials.Expiration) {
				// Nothing fresher than what is held: not a success.
				err = fmt.Errorf("profile %s: STS returned role credentials that expire no later than those held (%s)", p.name, rs.Credentials.Expiration.UTC().Format(time.RFC3339))
				p.failures++
				p.retryAt = now.Add(max(backoff(p.failures), minRenewGap))
			} else if err != nil {
				p.failures++
				p.retryAt = now.Add(backoff(p.failures))
			}
			if err != nil {
				p.lastErr = err.Error()
				d.log.Warn("role renewal failed; serving the current credentials while they last", "profile", p.name, "attempt", p.failures, "retry_at", p.retryAt, "error", err)
				d.rebuildLocked(p.key, now)
				d.scheduleLocked(p.key, now)
				if snap := p.served.Load(); snap != nil {
					d.mu.Unlock()
					return snap, nil
				}
				d.mu.Unlock()
				return nil, err
			}
			d.setRoleLocked(p, rs)
			p.failures, p.retryAt, p.lastErr = 0, time.Time{}, ""
			if err := session.SaveRole(cctx, d.store, rs); err != nil {
				d.log.Warn("could not cache role session", "profile", p.name, "error", err)
			}
			d.rebuildLocked(p.key, now)
			d.scheduleLocked(p.key, now)
			snap := p.served.Load()
			d.mu.Unlock()
			return snap, nil
		}
	})
	// A caller waits for the shared call only as long as its context allows.
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		snap, _ := r.Val.(*snapshot)
		return snap, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("profile %s: the role renewal under way takes too long: %w", p.name, ctx.Err())
	}
}

// heldLocked returns what p serves without calling STS, or an error saying
// when the next renewal is due when nothing valid is held. It unlocks d.mu.
func (d *Daemon) heldLocked(p *profState, now time.Time) (any, error) {
	snap := buildSnapshot(p, now)
	p.served.Store(snap)
	next, why := p.renewAt, ""
	if now.Before(p.retryAt) {
		next, why = p.retryAt, ": "+p.lastErr
	}
	d.mu.Unlock()
	if snap != nil {
		return snap, nil
	}
	return nil, fmt.Errorf("profile %s has no valid credentials; the next role renewal is due at %s%s", p.name, next.UTC().Format(time.RFC3339), why)
}

// kick starts a background role renewal unless one is running or backing off.
func (d *Daemon) kick(p *profState) {
	if !p.isRole() || !p.kicked.CompareAndSwap(false, true) {
		return
	}
	d.mu.Lock()
	if d.closed || d.clock.Now().Before(p.retryAt) {
		d.mu.Unlock()
		p.kicked.Store(false)
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		for {
			_, err := d.renewRole(d.bg, p)
			p.kicked.Store(false)
			// A new MFA session may have arrived while this renewal ran
			// with the old one, and its own kick found this one under way.
			if err == nil && d.roleStale(p) && p.kicked.CompareAndSwap(false, true) {
				continue
			}
			// The timer skips renewals while one runs: arm it again, in
			// case it fell due meanwhile.
			d.mu.Lock()
			d.scheduleLocked(p.key, d.clock.Now())
			d.mu.Unlock()
			return
		}
	}()
}

// roleStale reports whether p's role session is missing or was made from an
// MFA session other than the current one, with a renewal allowed now.
func (d *Daemon) roleStale(p *profState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	mfa := p.key.mfa
	now := d.clock.Now()
	if d.closed || mfa == nil || !mfa.Valid(now, minServe) || now.Before(p.retryAt) {
		return false
	}
	return p.role == nil || !p.role.MFAAt.Equal(mfa.MFAAt)
}

// rebuildLocked prepares new snapshots for k's profiles. d.mu is held.
func (d *Daemon) rebuildLocked(k *keyState, now time.Time) {
	for _, p := range k.dependents {
		p.served.Store(buildSnapshot(p, now))
	}
	d.release.schedule()
}

// Lock locks name. A role profile's role session is dropped from memory
// and the keystore, and the role is not assumed again until name is
// unlocked; its key profile's MFA session and other roles are untouched.
// A key profile's MFA session is dropped with every role session made
// from it.
func (d *Daemon) Lock(ctx context.Context, name string) ([]string, error) {
	p, err := d.profile(name)
	if err != nil {
		return nil, err
	}
	if p.isRole() {
		return d.lockRole(ctx, p)
	}
	return d.lockKey(ctx, p.key)
}

// lockRole locks one role profile.
func (d *Daemon) lockRole(ctx context.Context, p *profState) ([]string, error) {
	d.mu.Lock()
	p.locked = true
	p.role = nil
	p.served.Store(nil)
	p.failures, p.retryAt, p.lastErr = 0, time.Time{}, ""
	d.scheduleLocked(p.key, d.clock.Now())
	d.mu.Unlock()
	// The mark in the keystore keeps the role locked across restarts.
	err := errors.Join(session.DropRole(ctx, d.store, p.name), d.store.Set(ctx, p.name, keystore.LockedItem, []byte("locked")))
	d.log.Info("locked", "profiles", []string{p.name})
	return []string{p.name}, err
}

// LockAll locks every profile.
func (d *Daemon) LockAll(ctx context.Context) ([]string, error) {
	var all []string
	var errs []error
	for _, k := range d.sortedKeys() {
		l, err := d.lockKey(ctx, k)
		all = append(all, l...)
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

func (d *Daemon) lockKey(ctx context.Context, k *keyState) ([]string, error) {
	d.mu.Lock()
	k.mfa = nil
	k.needCode = false
	k.held = true
	k.lockGen++
	k.codeAttempts, k.codeRetryAt, k.codeErr = 0, time.Time{}, ""
	if k.codeCancel != nil {
		k.codeCancel()
	}
	var names []string
	for _, p := range k.dependents {
		p.role = nil
		p.served.Store(nil)
		names = append(names, p.name)
	}
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	d.mu.Unlock()
	var errs []error
	errs = append(errs, session.Drop(ctx, d.store, k.name))
	for _, p := range k.dependents {
		if p.isRole() {
			errs = append(errs, session.DropRole(ctx, d.store, p.name))
		}
	}
	d.log.Info("locked", "profiles", names)
	return names, errors.Join(errs...)
}

// Credentials returns what the endpoint would serve for name, renewing a
// role session first when it is due. It never waits for a person.
func (d *Daemon) Credentials(ctx context.Context, name string) (session.Credentials, error) {
	p, err := d.profile(name)
	if err != nil {
		return session.Credentials{}, err
	}
	snap, err := d.serve(ctx, p)
	if err != nil {
		return session.Credentials{}, err
	}
	return snap.creds, nil
}

// serve returns a valid snapshot for p: the prepared one when it is fresh,
// else a rebuilt one, renewing the role session when needed.
func (d *Daemon) serve(ctx context.Context, p *profState) (*snapshot, error) {
	now := d.clock.Now()
	snap := p.served.Load()
	if snap != nil && now.UnixNano() < snap.staleAt {
		if now.UnixNano() >= snap.refreshAt {
			d.kick(p)
		}
		return snap, nil
	}
	d.mu.Lock()
	snap = buildSnapshot(p, now)
	p.served.Store(snap)
	d.scheduleLocked(p.key, now)
	mfaValid := p.key.mfa != nil && p.key.mfa.Valid(now, minServe)
	d.mu.Unlock()
	if snap != nil {
		if now.UnixNano() >= snap.refreshAt {
			d.kick(p)
		}
		return snap, nil
	}
	if !mfaValid {
		// A source that needs no typing starts now; this request is
		// answered at once, and later ones are served once it is done.
		d.askOnDemand(p.key)
		return nil, d.lockedErr(p)
	}
	// A role profile whose role session has expired (a laptop that slept,
	// say) while its MFA session is still valid: renew it now; this needs
	// STS, not a person.
	snap, err := d.renewRole(ctx, p)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, d.lockedErr(p)
	}
	return snap, nil
}
