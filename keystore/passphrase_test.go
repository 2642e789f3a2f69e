package keystore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPassphraseFromEnv(t *testing.T) {
	ctx := testContext(t)
	env := map[string]string{PassphraseEnv: "from the environment"}
	p, err := PassphraseFromEnv(func(k string) string { return env[k] })(ctx)
	if err != nil || string(p) != "from the environment" {
		t.Fatalf("PassphraseFromEnv = %q, %v", p, err)
	}
	_, err = PassphraseFromEnv(func(string) string { return "" })(ctx)
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Fatalf("PassphraseFromEnv with the variable unset: err = %v", err)
	}
}

func TestPassphrasePromptNeedsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	_, err = PassphrasePrompt(f, &out)(testContext(t))
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), "not a terminal") || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Fatalf("PassphrasePrompt on a file: err = %v", err)
	}
}

func TestPassphraseFirst(t *testing.T) {
	ctx := testContext(t)
	none := PassphraseFromEnv(func(string) string { return "" })
	got, err := PassphraseFirst(none, staticPassphrase("second"))(ctx)
	if err != nil || string(got) != "second" {
		t.Fatalf("PassphraseFirst = %q, %v; want the second source", got, err)
	}
	boom := errors.New("the two passphrases differ")
	stop := func(context.Context) ([]byte, error) { return nil, boom }
	if _, err := PassphraseFirst(stop, staticPassphrase("x"))(ctx); !errors.Is(err, boom) {
		t.Fatalf("PassphraseFirst went on after a real error: %v", err)
	}
	if _, err := PassphraseFirst(none, none)(ctx); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("PassphraseFirst with no passphrase anywhere: %v", err)
	}
	if _, err := PassphraseFirst()(ctx); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("PassphraseFirst(): %v", err)
	}
}

func TestDefaultFilePath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if p, err := DefaultFilePath(); err != nil || p != filepath.Join("/xdg/data", "mfad", "keystore.enc") {
		t.Fatalf("DefaultFilePath() = %q, %v", p, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_DATA_HOME", xdg)
		if p, err := DefaultFilePath(); err != nil || p != filepath.Join(home, ".local", "share", "mfad", "keystore.enc") {
			t.Fatalf("DefaultFilePath() with XDG_DATA_HOME=%q = %q, %v", xdg, p, err)
		}
	}
}
