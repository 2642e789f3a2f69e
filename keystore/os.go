package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zalando/go-keyring"

	"github.com/c0950fac/mfad/internal/fileutil"
)

// DefaultService is the OS keyring service name mfad keeps its items under.
const DefaultService = "mfad"

// The OS backend keeps each item as one keyring entry: service (default
// "mfad"), account "PROFILE/ITEM". The OS keyrings cannot list entries, so an
// extra entry, account "_index", holds a JSON object mapping each profile to
// its items; Set and Delete keep it current and undo their change to the
// item when the index cannot be written.
const osIndexUser = "_index"

// osBinaryPrefix marks a value stored as base64 because it is not UTF-8
// text (or contains NUL), which some Secret Service providers would not keep
// intact. Text values, such as mfad's JSON, are stored as they are.
const osBinaryPrefix = "mfad-base64:"

// osRollbackTimeout bounds the undo of a half-done Set or Delete, which runs
// even when the caller's context has ended.
const osRollbackTimeout = 15 * time.Second

// keyringAPI is the part of go-keyring the OS backend uses.
type keyringAPI interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// goKeyring calls the OS keyring through go-keyring.
type goKeyring struct{}

// Get reads one entry.
func (goKeyring) Get(service, user string) (string, error) {
	if err := sessionBusCheck(); err != nil {
		return "", err
	}
	return keyring.Get(service, user)
}

// Set creates or replaces one entry.
func (goKeyring) Set(service, user, password string) error {
	if err := sessionBusCheck(); err != nil {
		return err
	}
	return keyring.Set(service, user, password)
}

// Delete removes one entry.
func (goKeyring) Delete(service, user string) error {
	if err := sessionBusCheck(); err != nil {
		return err
	}
	return keyring.Delete(service, user)
}

// OSOption configures NewOS.
type OSOption func(*osStore)

// WithService sets the keyring service name the items are kept under
// (default "mfad"; "" keeps the default). Tests use a unique name.
func WithService(name string) OSOption {
	return func(s *osStore) {
		if name != "" {
			s.service = name
		}
	}
}

// WithLockFile sets the file whose advisory lock serialises index updates
// between mfad processes ("" disables the lock). The default is
// $XDG_RUNTIME_DIR/mfad/os-keyring.lock, or os-keyring.lock beside
// DefaultFilePath when XDG_RUNTIME_DIR is unset.
func WithLockFile(path string) OSOption {
	return func(s *osStore) { s.lockPath = path }
}

// withKeyring replaces go-keyring, for tests.
func withKeyring(kr keyringAPI) OSOption {
	return func(s *osStore) { s.kr = kr }
}

// osStore is the OS keyring backend.
type osStore struct {
	service  string
	lockPath string
	kr       keyringAPI
	mu       ctxMutex // serialises index updates in this process
}

// NewOS returns the OS keyring backend ("os"): the Secret Service on Linux
// and BSD, the Keychain on macOS, the Credential Manager on Windows. It does
// not contact the keyring; Open probes it first.
//
// Keyring calls take no context: each runs in its own goroutine, and an
// operation returns ctx.Err() as soon as ctx ends, even while a D-Bus call
// hangs (the call itself is abandoned, and its outcome is then unknown).
func NewOS(opts ...OSOption) Store {
	return newOS(opts...)
}

func newOS(opts ...OSOption) *osStore {
	s := &osStore{service: DefaultService, lockPath: defaultOSLockPath(), kr: goKeyring{}, mu: newCtxMutex()}
	for _, o := range opts {
		o(s)
	}
	return s
}

func defaultOSLockPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mfad", "os-keyring.lock")
	}
	p, err := DefaultFilePath()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(p), "os-keyring.lock")
}

// Backend returns "os".
func (s *osStore) Backend() string { return BackendOS }

func osUser(profile string, item Item) string { return profile + "/" + string(item) }

// Get reads the item's entry directly; the index is not consulted.
func (s *osStore) Get(ctx context.Context, profile string, item Item) ([]byte, error) {
	if err := checkKey(profile, item); err != nil {
		return nil, err
	}
	raw, err := s.get(ctx, osUser(profile, item))
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return nil, notFound(BackendOS, profile, item)
	case err != nil:
		return nil, s.fail(fmt.Sprintf("cannot read the %s of profile %q from the OS keyring", item, profile), err)
	}
	v, err := decodeOSValue(raw)
	if err != nil {
		return nil, fmt.Errorf("the %s of profile %q in the OS keyring (service %q) is damaged: store it again: %w",
			item, profile, s.service, err)
	}
	return v, nil
}

// Set writes the item's entry, then the index if the item is new to it;
// when the index cannot be written the entry is put back as it was.
func (s *osStore) Set(ctx context.Context, profile string, item Item, value []byte) error {
	if err := checkKey(profile, item); err != nil {
		return err
	}
	if err := checkValue(profile, item, value); err != nil {
		return err
	}
	action := fmt.Sprintf("cannot store the %s of profile %q in the OS keyring", item, profile)
	unlock, err := s.lock(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer unlock()

	idx, err := s.loadIndex(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	user := osUser(profile, item)
	if idx.has(profile, item) {
		if err := s.set(ctx, user, encodeOSValue(value)); err != nil {
			return s.fail(action, err)
		}
		return nil
	}
	// The index will change: keep the previous entry, if any, to undo with.
	prev, err := s.get(ctx, user)
	hadPrev := err == nil
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return s.fail(action, err)
	}
	if err := s.set(ctx, user, encodeOSValue(value)); err != nil {
		return s.fail(action, err)
	}
	idx.add(profile, item)
	if err := s.saveIndex(ctx, idx); err != nil {
		undo := func(ctx context.Context) error {
			if hadPrev {
				return s.set(ctx, user, prev)
			}
			return s.del(ctx, user)
		}
		return s.rollback(ctx, action, err, undo)
	}
	return nil
}

// Delete removes the item's entry and its index mention; when the index
// cannot be written the entry is put back.
func (s *osStore) Delete(ctx context.Context, profile string, item Item) error {
	if err := checkKey(profile, item); err != nil {
		return err
	}
	action := fmt.Sprintf("cannot delete the %s of profile %q from the OS keyring", item, profile)
	unlock, err := s.lock(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer unlock()

	idx, err := s.loadIndex(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	user := osUser(profile, item)
	if !idx.has(profile, item) {
		if err := s.del(ctx, user); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return s.fail(action, err)
		}
		return nil
	}
	prev, err := s.get(ctx, user)
	hadPrev := err == nil
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return s.fail(action, err)
	}
	if hadPrev {
		if err := s.del(ctx, user); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return s.fail(action, err)
		}
	}
	idx.remove(profile, item)
	if err := s.saveIndex(ctx, idx); err != nil {
		if !hadPrev {
			return fmt.Errorf("%s: %w", action, err)
		}
		return s.rollback(ctx, action, err, func(ctx context.Context) error { return s.set(ctx, user, prev) })
	}
	return nil
}

// Profiles lists the profiles the index names.
func (s *osStore) Profiles(ctx context.Context) ([]string, error) {
	idx, err := s.loadIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list the profiles in the OS keyring: %w", err)
	}
	names := make([]string, 0, len(idx))
	for name, items := range idx {
		if len(items) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// probe checks that the keyring answers, by reading the index.
func (s *osStore) probe(ctx context.Context) error {
	_, err := s.get(ctx, osIndexUser)
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return s.fail("cannot reach the OS keyring", err)
	}
	return nil
}

// rollback undoes the item change of a Set or Delete whose index update
// failed with cause, and returns the error to report.
func (s *osStore) rollback(ctx context.Context, action string, cause error, undo func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), osRollbackTimeout)
	defer cancel()
	if err := undo(rctx); err != nil {
		slog.Error("OS keyring entry left changed after a failed index update",
			"service", s.service, "err", err)
		return fmt.Errorf("%s: updating the index failed, and undoing the change failed too (%v); store or delete the item again: %w",
			action, err, cause)
	}
	return fmt.Errorf("%s (nothing was changed): %w", action, cause)
}

// lock takes the in-process lock and, when configured, the cross-process
// one. A lock file that cannot be used is logged and skipped: the index is
// then guarded within this process only.
func (s *osStore) lock(ctx context.Context) (func(), error) {
	if err := s.mu.lock(ctx); err != nil {
		return nil, err
	}
	if s.lockPath == "" {
		return s.mu.unlock, nil
	}
	unlockFile, err := fileutil.Lock(ctx, s.lockPath)
	if err != nil {
		if ctx.Err() != nil {
			s.mu.unlock()
			return nil, err
		}
		slog.Warn("cannot lock the OS keyring index against other mfad processes; going on without the lock",
			"lock_file", s.lockPath, "err", err)
		return s.mu.unlock, nil
	}
	return func() {
		unlockFile()
		s.mu.unlock()
	}, nil
}

// osIndex maps a profile to its items.
type osIndex map[string][]Item

func (x osIndex) has(profile string, item Item) bool {
	return slices.Contains(x[profile], item)
}

func (x osIndex) add(profile string, item Item) {
	if x.has(profile, item) {
		return
	}
	items := append(x[profile], item)
	// Keep the order of Items, so the stored index is stable.
	slices.SortFunc(items, func(a, b Item) int { return slices.Index(Items(), a) - slices.Index(Items(), b) })
	x[profile] = items
}

func (x osIndex) remove(profile string, item Item) {
	items := slices.DeleteFunc(x[profile], func(i Item) bool { return i == item })
	if len(items) == 0 {
		delete(x, profile)
		return
	}
	x[profile] = items
}

func (s *osStore) loadIndex(ctx context.Context) (osIndex, error) {
	raw, err := s.get(ctx, osIndexUser)
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return osIndex{}, nil
	case err != nil:
		return nil, s.fail("cannot read mfad's profile index from the OS keyring", err)
	}
	idx := osIndex{}
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		return nil, fmt.Errorf("mfad's profile index in the OS keyring (service %q, account %q) is damaged: delete that entry (for example with `secret-tool clear service %s username %s`) and store each profile's items again: %w",
			s.service, osIndexUser, s.service, osIndexUser, err)
	}
	return idx, nil
}

func (s *osStore) saveIndex(ctx context.Context, idx osIndex) error {
	for name, items := range idx {
		if len(items) == 0 {
			delete(idx, name)
		}
	}
	if len(idx) == 0 {
		if err := s.del(ctx, osIndexUser); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return s.fail("cannot update mfad's profile index in the OS keyring", err)
		}
		return nil
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("keystore: cannot encode the profile index: %w", err)
	}
	if err := s.set(ctx, osIndexUser, string(raw)); err != nil {
		return s.fail("cannot update mfad's profile index in the OS keyring", err)
	}
	return nil
}

// get, set and del call the keyring without blocking past ctx.
func (s *osStore) get(ctx context.Context, user string) (string, error) {
	return callKeyring(ctx, func() (string, error) { return s.kr.Get(s.service, user) })
}

func (s *osStore) set(ctx context.Context, user, value string) error {
	_, err := callKeyring(ctx, func() (struct{}, error) { return struct{}{}, s.kr.Set(s.service, user, value) })
	return err
}

func (s *osStore) del(ctx context.Context, user string) error {
	_, err := callKeyring(ctx, func() (struct{}, error) { return struct{}{}, s.kr.Delete(s.service, user) })
	return err
}

// callKeyring runs fn in a goroutine and returns its result, or ctx.Err()
// as soon as ctx ends.
func callKeyring[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// fail turns an error from the keyring into one that says what to do.
func (s *osStore) fail(action string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: the OS keyring did not answer in time (is it locked, waiting for an unlock prompt?): %w", action, err)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%s: the OS keyring refused the value as too big (Windows Credential Manager keeps at most 2560 bytes): set keyring.backend: file: %w", action, err)
	}
	return fmt.Errorf("%s: %w", action, &unavailableError{cause: err})
}

// unavailableError is a keyring failure other than "not found": the keyring
// is missing, locked, or refused the call.
type unavailableError struct{ cause error }

// Error says what is wrong and how to fix it, then the keyring's own words.
func (e *unavailableError) Error() string {
	return osUnavailableHint() + " (" + strings.TrimSpace(e.cause.Error()) + ")"
}

// Unwrap lets errors.Is find both ErrUnavailable and the keyring's error.
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

func osUnavailableHint() string {
	switch runtime.GOOS {
	case "darwin":
		return "the OS keyring (macOS Keychain) is not available: unlock the login keychain, or set keyring.backend: file"
	case "windows":
		return "the OS keyring (Windows Credential Manager) is not available: check that the Credential Manager service runs, or set keyring.backend: file"
	default:
		return "the OS keyring (Secret Service) is not available: start gnome-keyring or KeePassXC's Secret Service, or set keyring.backend: file"
	}
}

// encodeOSValue turns a value into the string the keyring stores.
func encodeOSValue(v []byte) string {
	if utf8.Valid(v) && bytes.IndexByte(v, 0) < 0 && !bytes.HasPrefix(v, []byte(osBinaryPrefix)) {
		return string(v)
	}
	return osBinaryPrefix + base64.StdEncoding.EncodeToString(v)
}

// decodeOSValue reverses encodeOSValue.
func decodeOSValue(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, osBinaryPrefix); ok {
		v, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("its base64 encoding is invalid")
		}
		return v, nil
	}
	return []byte(s), nil
}
