package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestSecretsNeverShown gathers every error message, printout and log line
// that handles a secret and checks that none of them contains it.
func TestSecretsNeverShown(t *testing.T) {
	ctx := testContext(t)
	secret := testKey.SecretAccessKey
	const passphrase = "passphrase-that-must-not-leak"
	const sessionToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKENthatmustnotleak"
	secrets := []string{secret, passphrase, sessionToken}

	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	var shown []string
	note := func(what string, err error) {
		if err != nil {
			shown = append(shown, what+": "+err.Error())
		}
	}

	// Printing and logging an AccessKey, well-formed or not.
	swapped := AccessKey{AccessKeyID: secret, SecretAccessKey: testKey.AccessKeyID}
	for _, k := range []AccessKey{testKey, swapped, {SecretAccessKey: secret}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
			shown = append(shown, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, []AccessKey{k}))
		}
		shown = append(shown, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprintln(k))
		slog.Info("key", "key", k, "ptr", &k)
		var text bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("key", "key", k, slog.Any("any", k))
		shown = append(shown, text.String())
		note("Validate", k.Validate())
	}
	if s := testKey.String(); !strings.Contains(s, testKey.AccessKeyID) {
		t.Errorf("String() = %q; a well-formed key id should be shown", s)
	}

	// Validation of bad keys built around the secret.
	for _, k := range []AccessKey{
		{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: secret[:30]},
		{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: secret + "=="},
		{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: " " + secret},
		{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: strings.Replace(secret, "/", "-", 1)},
		{AccessKeyID: secret[:20], SecretAccessKey: secret},
		{AccessKeyID: "AKIA" + secret[:16], SecretAccessKey: secret},
	} {
		note("Validate", k.Validate())
		note("PutAccessKey", PutAccessKey(ctx, NewMemory(), "p", k))
	}

	// Damaged stored keys.
	mem := NewMemory()
	for i, raw := range []string{secret, "{" + secret, `{"access_key_id":"` + secret + `"}`, `{"secret_access_key":"` + secret + `"}`} {
		p := fmt.Sprintf("p%d", i)
		if err := mem.Set(ctx, p, AccessKeyItem, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		_, err := GetAccessKey(ctx, mem, p)
		note("GetAccessKey", err)
	}

	// The file backend: wrong passphrase, damaged files, failed writes, loose modes.
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore.enc")
	fs, err := OpenFile(ctx, path, staticPassphrase(passphrase), WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	if err := PutAccessKey(ctx, fs, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	if err := fs.Set(ctx, "prod", SessionItem, []byte(sessionToken)); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFile(ctx, path, staticPassphrase(passphrase+"x"))
	note("OpenFile wrong passphrase", err)
	_, err = OpenFile(ctx, path, staticPassphrase("short"))
	note("OpenFile short passphrase", err)
	good, _ := os.ReadFile(path)
	failing, err := OpenFile(ctx, path, staticPassphrase(passphrase), withAfterTempWrite(func(string) error {
		return errors.New("disk full")
	}))
	if err != nil {
		t.Fatal(err)
	}
	note("Set with failing write", failing.Set(ctx, "prod", SessionItem, []byte(sessionToken+"2")))
	for _, damaged := range [][]byte{good[:len(good)-3], good[:40], append(bytes.Clone(good), 1)} {
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFile(ctx, path, staticPassphrase(passphrase))
		note("OpenFile damaged", err)
		note("Set on damaged", fs.Set(ctx, "prod", SessionItem, []byte(sessionToken)))
		_, err = fs.Get(ctx, "prod", AccessKeyItem)
		note("Get on damaged", err)
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFile(ctx, path, staticPassphrase(passphrase)) // logs the loose mode
	note("OpenFile loose mode", err)
	_, err = OpenFile(ctx, filepath.Join(dir, "new.enc"), func(context.Context) ([]byte, error) {
		return nil, fmt.Errorf("no terminal: %w", ErrNoPassphrase)
	})
	note("OpenFile no passphrase", err)

	// The OS backend: unavailable keyring, failing index with failing undo.
	osStore, kr := newFakeOS(t)
	if err := osStore.Set(ctx, "prod", SessionItem, []byte(sessionToken)); err != nil {
		t.Fatal(err)
	}
	kr.failSet = func(user string) error { return errors.New("refused") }
	note("OS Set failing", osStore.Set(ctx, "prod", AccessKeyItem, []byte(secret)))
	kr.failSet = nil
	kr.failAll = errors.New("dbus: connection closed")
	note("OS Set unavailable", PutAccessKey(ctx, osStore, "prod", testKey))
	_, err = osStore.Get(ctx, "prod", SessionItem)
	note("OS Get unavailable", err)
	note("OS Delete unavailable", osStore.Delete(ctx, "prod", SessionItem))
	note("RemoveProfile unavailable", RemoveProfile(ctx, osStore, "prod"))
	// A lock file that cannot be created is logged.
	blocked := newOS(withKeyring(newFakeKeyring()), WithLockFile(filepath.Join(path, "cannot", "lock")))
	note("OS Set without lock", blocked.Set(ctx, "prod", SessionItem, []byte(sessionToken)))

	shown = append(shown, logs.String())
	if runtime.GOOS != "windows" && !strings.Contains(logs.String(), "accessible to other users") {
		t.Errorf("the loose file mode was not logged; logs:\n%s", logs.String())
	}
	if len(shown) < 50 {
		t.Fatalf("only %d outputs gathered", len(shown))
	}
	for _, out := range shown {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output contains a secret: %q", out)
			}
		}
		// Parts of the secret are no better.
		if strings.Contains(out, secret[:16]) || strings.Contains(out, secret[24:]) {
			t.Errorf("output contains part of the secret: %q", out)
		}
	}
}
