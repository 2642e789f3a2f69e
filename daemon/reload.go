package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// table is the configuration a daemon serves and the state of its
// profiles. It is replaced whole when the configuration changes (Reload):
// readers load it once and use that copy.
type table struct {
	cfg *configs.Config
	// keys are the key profiles, profiles every served profile, by name;
	// names are the profiles' names, sorted.
	keys     map[string]*keyState
	profiles map[string]*profState
	names    []string
	// suggested holds mfa_max_age values found in key profiles' policy files.
	suggested map[string]time.Duration
}

// t returns the current table.
func (d *Daemon) t() *table { return d.tab.Load() }

// buildTable makes the table of cfg. With old, the state of every key
// profile and profile whose settings did not change is carried over — its
// sessions, timers and served credentials — and fresh lists the key
// profiles that are new or changed. Reloads take turns (d.reloadMu), and
// only they change what it reads of old.
func (d *Daemon) buildTable(cfg *configs.Config, old *table) (t *table, fresh []*keyState, err error) {
	t = &table{cfg: cfg, keys: map[string]*keyState{}, profiles: map[string]*profState{}, suggested: map[string]time.Duration{}}
	for _, name := range cfg.ProfileNames() {
		p := cfg.Profiles[name]
		kp := p.KeyProfile()
		k := t.keys[kp]
		if k == nil {
			src, ok := cfg.Profiles[kp]
			if !ok {
				return nil, nil, fmt.Errorf("profile %s uses source_profile %s, which is not configured", name, kp)
			}
			if old != nil {
				if o := old.keys[kp]; o != nil && sameProfile(o.prof, src) {
					k = o
				}
			}
			if k == nil {
				k = &keyState{name: kp, prof: src, held: true}
				fresh = append(fresh, k)
			}
			t.keys[kp] = k
		}
		var ps *profState
		if old != nil {
			if o := old.profiles[name]; o != nil && o.key == k && sameProfile(o.prof, p) {
				ps = o
			}
		}
		if ps == nil {
			ps = &profState{name: name, prof: p, key: k}
			// A role profile locked on its own stays locked when its
			// settings change.
			if old != nil && p.RoleARN != "" {
				if o := old.profiles[name]; o != nil && o.locked {
					ps.locked = true
				}
			}
		}
		t.profiles[name] = ps
		t.names = append(t.names, name)
	}
	sort.Strings(t.names)
	// The dependents of carried-over key profiles are listed anew; their
	// state is only replaced once the table is.
	deps := map[*keyState][]*profState{}
	for _, name := range t.names {
		ps := t.profiles[name]
		deps[ps.key] = append(deps[ps.key], ps)
	}
	for _, k := range t.keys {
		if slices.Contains(fresh, k) {
			k.dependents = deps[k]
		}
	}
	if old == nil {
		for _, k := range t.keys {
			k.dependents = deps[k]
		}
	}
	if d.suggest != nil {
		for name, k := range t.keys {
			if k.prof.MFAMaxAge == 0 {
				if w, ok := d.suggest(k.prof); ok {
					t.suggested[name] = w
				}
			}
		}
	}
	return t, fresh, nil
}

// sameProfile reports whether two loads of a profile say the same.
func sameProfile(a, b *configs.Profile) bool {
	return reflect.DeepEqual(a, b)
}

// restartSettings are the settings a running daemon cannot change: the
// configuration is served without them until it restarts.
func restartSettings(old, cfg *configs.Config) []string {
	var out []string
	if old.Listen != cfg.Listen {
		out = append(out, "listen")
	}
	if old.STSEndpoint != cfg.STSEndpoint {
		out = append(out, "sts_endpoint")
	}
	if !reflect.DeepEqual(old.Keyring, cfg.Keyring) {
		out = append(out, "keyring")
	}
	if old.LockOnSleep != cfg.LockOnSleep {
		out = append(out, "lock_on_sleep")
	}
	if old.LockOnScreenLock != cfg.LockOnScreenLock {
		out = append(out, "lock_on_screen_lock")
	}
	return out
}

// ErrConfigRefused reports that a new configuration was refused; the daemon
// goes on serving the one before it.
var ErrConfigRefused = errors.New("configuration change refused")

// Reload loads the configuration again with load and serves it: profiles
// appear, change and disappear; those whose settings did not change keep
// their sessions, and new or changed ones restore what the keystore holds
// for them. When load fails, or the new configuration cannot be served,
// the error is logged and shown by `mfad status`, and the configuration
// before it goes on being served.
func (d *Daemon) Reload(ctx context.Context, load func() (*configs.Config, error)) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := load()
	if err != nil {
		return d.refuseConfig(err)
	}
	// Only Reload replaces the table, and reloads take turns: the table is
	// built, and what the keystore holds for new role profiles read, before
	// the lock is taken to swap it in.
	old := d.t()
	t, fresh, err := d.buildTable(cfg, old)
	if err != nil {
		return d.refuseConfig(err)
	}
	roles := d.readRoles(ctx, t, old, fresh)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("the daemon is stopping")
	}
	// Commit: carried-over key profiles get their new lists of dependents
	// (their settings are equal: they keep theirs, which are read without
	// the lock); removed ones stop.
	deps := map[*keyState][]*profState{}
	for _, name := range t.names {
		ps := t.profiles[name]
		deps[ps.key] = append(deps[ps.key], ps)
	}
	var kept []*keyState
	for _, k := range t.keys {
		if !slices.Contains(fresh, k) {
			k.dependents = deps[k]
			kept = append(kept, k)
		}
	}
	var removed []string
	for name, k := range old.keys {
		if t.keys[name] != k {
			d.retireLocked(k)
		}
	}
	for _, name := range old.names {
		if _, ok := t.profiles[name]; !ok {
			removed = append(removed, name)
		}
	}
	var added []string
	for _, name := range t.names {
		if old.profiles[name] != t.profiles[name] {
			added = append(added, name)
		}
	}
	d.tab.Store(t)
	d.cfgErr = ""
	now := d.clock.Now()
	var kicks []*profState
	for p, r := range roles {
		if r.locked {
			p.locked = true
			continue
		}
		if rs := r.session; rs != nil && p.key.mfa != nil && rs.RoleARN == p.prof.RoleARN && rs.MFAAt.Equal(p.key.mfa.MFAAt) && rs.Valid(now, minServe) {
			d.setRoleLocked(p, rs)
		}
	}
	for _, k := range kept {
		d.rebuildLocked(k, now)
		d.scheduleLocked(k, now)
		for _, p := range k.dependents {
			if p.isRole() && p.role == nil && !p.locked && k.mfa != nil {
				kicks = append(kicks, p)
			}
		}
	}
	d.mu.Unlock()
	if s := restartSettings(old.cfg, cfg); len(s) > 0 {
		d.log.Warn("these settings changed and take effect when the daemon restarts", "settings", s)
	}
	if d.keystoreWaiting() == "" {
		if err := d.restoreKeys(ctx, fresh); err != nil {
			d.log.Warn("some cached sessions could not be restored; unlock those profiles again", "error", err)
		}
	}
	for _, p := range kicks {
		d.kick(p)
	}
	d.log.Info("configuration reloaded", "profiles", t.names, "new_or_changed", added, "removed", removed)
	return nil
}

// cachedRole is what the keystore holds for a role profile.
type cachedRole struct {
	locked  bool
	session *session.Session
}

// readRoles reads, for the role profiles new in t under key profiles
// carried over from old, whether they are locked on their own and their
// cached role sessions. (Fresh key profiles restore theirs with Restore.)
func (d *Daemon) readRoles(ctx context.Context, t, old *table, fresh []*keyState) map[*profState]cachedRole {
	out := map[*profState]cachedRole{}
	if d.keystoreWaiting() != "" {
		return out
	}
	now := d.clock.Now()
	for _, name := range t.names {
		p := t.profiles[name]
		if !p.isRole() || old.profiles[name] == p || slices.Contains(fresh, p.key) {
			continue
		}
		var r cachedRole
		if _, err := d.store.Get(ctx, p.name, keystore.LockedItem); err == nil {
			r.locked = true
		} else if rs, err := session.LoadRole(ctx, d.store, p.name, now); err == nil {
			r.session = rs
		}
		out[p] = r
	}
	return out
}

// refuseConfig records why a configuration change was refused.
func (d *Daemon) refuseConfig(err error) error {
	d.mu.Lock()
	d.cfgErr = err.Error()
	d.mu.Unlock()
	d.log.Error("configuration change refused; the previous configuration is still served", "error", err)
	return fmt.Errorf("%w: %w", ErrConfigRefused, err)
}

// ConfigError is why the last configuration change was refused, or "".
func (d *Daemon) ConfigError() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfgErr
}

// retireLocked stops the timers and code fetch of a key profile that left
// the configuration. Its sessions stay cached in the keystore. d.mu is held.
func (d *Daemon) retireLocked(k *keyState) {
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	if k.codeCancel != nil {
		k.codeCancel()
	}
	k.lockGen++
	k.needCode = false
}

// restoreKeys loads the cached sessions of keys from the keystore, as
// Restore does at start.
func (d *Daemon) restoreKeys(ctx context.Context, keys []*keyState) error {
	for _, k := range keys {
		if key, err := keystore.GetAccessKey(ctx, d.store, k.name); err == nil {
			d.noteKey(k, key)
		}
	}
	now := d.clock.Now()
	var errs []error
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if d.t().keys[k.name] != k {
			continue // replaced again meanwhile
		}
		errs = append(errs, d.restoreKeyLocked(ctx, k, now))
	}
	return errors.Join(errs...)
}
