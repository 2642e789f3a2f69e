package keystore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenUnknownBackend(t *testing.T) {
	_, err := Open(testContext(t), Options{Backend: "vault"})
	if err == nil {
		t.Fatal("Open accepted an unknown backend")
	}
	for _, want := range []string{`"vault"`, "auto", "os", "file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should contain %q", err, want)
		}
	}
}

func TestOpenFileBackend(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	opts := Options{Backend: BackendFile, File: path, Passphrase: staticPassphrase(testPassphrase),
		FileOptions: []FileOption{WithKDFParams(cheapKDF)}}
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend() != BackendFile {
		t.Fatalf("Backend() = %q", s.Backend())
	}
	if err := PutAccessKey(ctx, s, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := GetAccessKey(ctx, s2, "prod"); err != nil || k != testKey {
		t.Fatalf("GetAccessKey = %v, %v", k, err)
	}
	if _, err := Open(ctx, Options{Backend: BackendFile, File: path}); err == nil {
		t.Fatal("Open of the file backend without a passphrase function succeeded")
	}
}

func TestOpenOSProbe(t *testing.T) {
	ctx := testContext(t)
	kr := newFakeKeyring()
	for _, backend := range []string{BackendOS, BackendAuto, ""} {
		s, err := Open(ctx, Options{Backend: backend, Service: "mfad-probe", OSOptions: []OSOption{withKeyring(kr), WithLockFile("")}})
		if err != nil {
			t.Fatalf("Open(%q) with a working keyring: %v", backend, err)
		}
		if s.Backend() != BackendOS || s.(*osStore).service != "mfad-probe" {
			t.Fatalf("Open(%q) = %s backend, service %q", backend, s.Backend(), s.(*osStore).service)
		}
	}

	kr.failAll = errors.New("org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files")
	_, err := Open(ctx, Options{Backend: BackendAuto, OSOptions: []OSOption{withKeyring(kr)}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open(auto) without a keyring: err = %v; want ErrUnavailable", err)
	}
	for _, want := range []string{"keyring.backend: file", "MFAD_KEYRING_BACKEND=file", "MFAD_FILE_PASSPHRASE", "ServiceUnknown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(auto) error %q should contain %q", err, want)
		}
	}
	_, err = Open(ctx, Options{Backend: BackendOS, OSOptions: []OSOption{withKeyring(kr)}})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "keyring.backend: file") {
		t.Fatalf("Open(os) without a keyring: err = %v", err)
	}
}

func TestOpenAutoFallsBackToTheFile(t *testing.T) {
	ctx := testContext(t)
	kr := newFakeKeyring()
	kr.failAll = errors.New("org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files")
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s, err := Open(ctx, Options{Backend: BackendAuto, File: path, Passphrase: staticPassphrase(testPassphrase),
		FileOptions: []FileOption{WithKDFParams(cheapKDF)}, OSOptions: []OSOption{withKeyring(kr)}})
	if err != nil {
		t.Fatalf("Open(auto) without a keyring but with a passphrase: %v", err)
	}
	if s.Backend() != BackendFile {
		t.Fatalf("Open(auto) fell back to %q", s.Backend())
	}
	if err := PutAccessKey(ctx, s, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	// The file fallback failing says both why.
	_, err = Open(ctx, Options{Backend: BackendAuto, File: path, Passphrase: staticPassphrase("wrong passphrase"), OSOptions: []OSOption{withKeyring(kr)}})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open(auto) with a wrong passphrase: %v", err)
	}
}

func TestPendingOpensWithThePassphrase(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s := openTestFile(t, path)
	if err := PutAccessKey(ctx, s, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	p := NewPending(path, func(ctx context.Context, pass []byte) (Store, error) {
		given := string(pass)
		return OpenFile(ctx, path, staticPassphrase(given))
	})
	if !p.NeedsPassphrase() || p.Backend() != BackendFile || p.File() != path {
		t.Fatal("a new Pending store does not wait")
	}
	if _, err := GetAccessKey(ctx, p, "prod"); !errors.Is(err, ErrPassphraseNeeded) || !strings.Contains(err.Error(), "mfad unlock") {
		t.Fatalf("Get while waiting: %v", err)
	}
	if err := p.Set(ctx, "prod", SessionItem, []byte("x")); !errors.Is(err, ErrPassphraseNeeded) {
		t.Fatalf("Set while waiting: %v", err)
	}
	if err := p.Unlock(ctx, []byte("wrong passphrase")); !errors.Is(err, ErrWrongPassphrase) || !p.NeedsPassphrase() {
		t.Fatalf("Unlock with a wrong passphrase: %v", err)
	}
	if err := p.Unlock(ctx, nil); err == nil {
		t.Fatal("Unlock with an empty passphrase succeeded")
	}
	pass := []byte(testPassphrase)
	if err := p.Unlock(ctx, pass); err != nil {
		t.Fatal(err)
	}
	if string(pass) == testPassphrase {
		t.Error("Unlock kept the passphrase bytes")
	}
	if k, err := GetAccessKey(ctx, p, "prod"); err != nil || k != testKey {
		t.Fatalf("Get after Unlock: %v %v", k, err)
	}
	if names, err := p.Profiles(ctx); err != nil || len(names) != 1 {
		t.Fatalf("Profiles: %v %v", names, err)
	}
	if err := p.Delete(ctx, "prod", SessionItem); err != nil {
		t.Fatal(err)
	}
}
