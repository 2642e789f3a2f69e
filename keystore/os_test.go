package keystore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// fakeKeyring stands in for go-keyring: a map, with hooks to fail or hang.
type fakeKeyring struct {
	mu      sync.Mutex
	entries map[string]string // user -> value (one service per fake)
	failSet func(user string) error
	failAll error
	hang    chan struct{} // when set, every call waits for it to close
}

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{entries: map[string]string{}} }

func (f *fakeKeyring) wait() error {
	f.mu.Lock()
	hang, failAll := f.hang, f.failAll
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	return failAll
}

func (f *fakeKeyring) Get(_, user string) (string, error) {
	if err := f.wait(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.entries[user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(_, user, value string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSet != nil {
		if err := f.failSet(user); err != nil {
			return err
		}
	}
	f.entries[user] = value
	return nil
}

func (f *fakeKeyring) Delete(_, user string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.entries[user]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.entries, user)
	return nil
}

func (f *fakeKeyring) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.entries)
}

func newFakeOS(t *testing.T) (*osStore, *fakeKeyring) {
	kr := newFakeKeyring()
	return newOS(withKeyring(kr), WithLockFile(filepath.Join(t.TempDir(), "os.lock"))), kr
}

func TestOSConformanceFakeKeyring(t *testing.T) {
	runConformance(t, func(t *testing.T) Store {
		s, _ := newFakeOS(t)
		return s
	})
}

// requireSecretService returns an OS store on a unique service name whose
// entries are removed after the test. It skips when no Secret Service
// answers, unless CI is set, where that is a failure.
func requireSecretService(t *testing.T) Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	service := "mfad-test-" + hex.EncodeToString(b[:])
	s := newOS(WithService(service), WithLockFile(filepath.Join(t.TempDir(), "os.lock")))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.probe(ctx); err != nil {
		msg := "the OS keyring does not answer (" + err.Error() + "); run the OS backend tests with: scripts/with-keyring go test ./keystore/"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (failing rather than skipping because CI is set)")
		}
		t.Skip(msg)
	}
	t.Logf("using the OS keyring (D-Bus session %q), service %s", os.Getenv("DBUS_SESSION_BUS_ADDRESS"), service)
	t.Cleanup(func() {
		if err := keyring.DeleteAll(service); err != nil {
			t.Errorf("cleaning up keyring service %s: %v", service, err)
		}
	})
	return s
}

func TestOSConformanceRealKeyring(t *testing.T) {
	requireSecretService(t) // skip or fail once, before the subtests
	runConformance(t, func(t *testing.T) Store { return requireSecretService(t) })
}

func TestOSRealKeyringLayout(t *testing.T) {
	ctx := testContext(t)
	s := requireSecretService(t).(*osStore)
	if err := PutAccessKey(ctx, s, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "prod", TOTPItem, binaryValue()); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "dev", SessionItem, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	raw, err := keyring.Get(s.service, osIndexUser)
	if err != nil {
		t.Fatalf("reading the index entry: %v", err)
	}
	var idx map[string][]string
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("index %q is not JSON: %v", raw, err)
	}
	want := map[string][]string{"prod": {"access-key", "totp"}, "dev": {"session"}}
	if !maps.EqualFunc(idx, want, func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }) {
		t.Fatalf("index = %v; want %v", idx, want)
	}
	if v, err := keyring.Get(s.service, "dev/session"); err != nil || v != `{"v":1}` {
		t.Fatalf("entry dev/session = %q, %v; text values should be stored as they are", v, err)
	}
	if v, err := keyring.Get(s.service, "prod/totp"); err != nil || !strings.HasPrefix(v, osBinaryPrefix) {
		t.Fatalf("binary entry stored as %q, %v; want base64 with the marker", v, err)
	}
	if err := RemoveProfile(ctx, s, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveProfile(ctx, s, "dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get(s.service, osIndexUser); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("index entry left after every profile was removed (err %v)", err)
	}
}

func TestOSIndexFailureRollsBackSet(t *testing.T) {
	ctx := testContext(t)
	s, kr := newFakeOS(t)
	if err := s.Set(ctx, "p", SessionItem, []byte("old session")); err != nil {
		t.Fatal(err)
	}
	// An entry the index does not know (left by an older run): its value
	// must come back too.
	kr.entries["p/totp"] = "old totp"
	before := kr.snapshot()

	indexDown := errors.New("org.freedesktop.DBus.Error.NoReply: no reply")
	kr.failSet = func(user string) error {
		if user == osIndexUser {
			return indexDown
		}
		return nil
	}
	for _, tc := range []struct {
		profile string
		item    Item
	}{{"p", TOTPItem}, {"new", SessionItem}} {
		err := s.Set(ctx, tc.profile, tc.item, []byte("new value"))
		if !errors.Is(err, indexDown) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("Set %s/%s with failing index: err = %v", tc.profile, tc.item, err)
		}
		if !maps.Equal(kr.snapshot(), before) {
			t.Fatalf("Set %s/%s left the keyring changed: %v; want %v", tc.profile, tc.item, kr.snapshot(), before)
		}
	}
	// Overwriting an item the index knows needs no index write.
	if err := s.Set(ctx, "p", SessionItem, []byte("newer session")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	mustGet(t, s, "p", SessionItem, []byte("newer session"))
}

func TestOSIndexFailureRollsBackDelete(t *testing.T) {
	ctx := testContext(t)
	s, kr := newFakeOS(t)
	for _, item := range []Item{SessionItem, TOTPItem} {
		if err := s.Set(ctx, "p", item, []byte("v-"+string(item))); err != nil {
			t.Fatal(err)
		}
	}
	before := kr.snapshot()
	kr.failSet = func(user string) error {
		if user == osIndexUser {
			return errors.New("index write refused")
		}
		return nil
	}
	if err := s.Delete(ctx, "p", SessionItem); err == nil {
		t.Fatal("Delete with failing index succeeded")
	}
	if !maps.Equal(kr.snapshot(), before) {
		t.Fatalf("Delete left the keyring changed: %v; want %v", kr.snapshot(), before)
	}
	mustGet(t, s, "p", SessionItem, []byte("v-session"))
}

func TestOSHungKeyringHonoursContext(t *testing.T) {
	s, kr := newFakeOS(t)
	kr.hang = make(chan struct{})
	defer close(kr.hang)

	for name, op := range map[string]func(ctx context.Context) error{
		"Get":      func(ctx context.Context) error { _, err := s.Get(ctx, "p", SessionItem); return err },
		"Set":      func(ctx context.Context) error { return s.Set(ctx, "p", SessionItem, []byte("v")) },
		"Delete":   func(ctx context.Context) error { return s.Delete(ctx, "p", SessionItem) },
		"Profiles": func(ctx context.Context) error { _, err := s.Profiles(ctx); return err },
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s on a hung keyring: err = %v; want DeadlineExceeded", name, err)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s took %v on a hung keyring", name, time.Since(start))
		}
		if !strings.Contains(err.Error(), "did not answer in time") {
			t.Errorf("%s: error %q should say the keyring did not answer", name, err)
		}
	}
	_, err := Open(t.Context(), Options{Backend: BackendOS, ProbeTimeout: 100 * time.Millisecond, OSOptions: []OSOption{withKeyring(kr)}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open with a hung keyring: err = %v; want DeadlineExceeded", err)
	}
}

func TestOSUnavailableError(t *testing.T) {
	ctx := testContext(t)
	s, kr := newFakeOS(t)
	kr.failAll = errors.New("dbus: couldn't determine address of session bus")
	_, err := s.Get(ctx, "p", SessionItem)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: err = %v; want ErrUnavailable", err)
	}
	msg := err.Error()
	for _, want := range []string{"keyring.backend: file", "couldn't determine address", `"p"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q should contain %q", msg, want)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(msg, "the OS keyring (Secret Service) is not available: start gnome-keyring or KeePassXC's Secret Service") {
		t.Errorf("error %q should say how to start a Secret Service", msg)
	}
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set: err = %v; want ErrUnavailable", err)
	}

	kr.failAll = nil
	kr.failSet = func(string) error { return keyring.ErrSetDataTooBig }
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err == nil || !strings.Contains(err.Error(), "too big") {
		t.Fatalf("Set of an oversized value: err = %v", err)
	}
}

func TestOSDamagedIndex(t *testing.T) {
	ctx := testContext(t)
	s, kr := newFakeOS(t)
	kr.entries[osIndexUser] = "not json"
	if _, err := s.Profiles(ctx); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Profiles with a damaged index: err = %v", err)
	}
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err == nil {
		t.Fatal("Set with a damaged index succeeded")
	}
	if kr.entries[osIndexUser] != "not json" {
		t.Fatal("the damaged index was overwritten")
	}
}

func TestOSValueEncoding(t *testing.T) {
	for _, v := range [][]byte{[]byte("plain"), binaryValue(), []byte(osBinaryPrefix), []byte("a\x00b"), []byte("ü")} {
		got, err := decodeOSValue(encodeOSValue(v))
		if err != nil || string(got) != string(v) {
			t.Fatalf("round trip of %q = %q, %v", v, got, err)
		}
	}
	if encodeOSValue([]byte(`{"a":1}`)) != `{"a":1}` {
		t.Fatal("JSON should be stored as it is")
	}
	if _, err := decodeOSValue(osBinaryPrefix + "!!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}
