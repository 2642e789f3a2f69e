package keystore

import (
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
