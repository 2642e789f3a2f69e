package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockKeys(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		env         testEnv
		sleep, lock bool
	}{
		{name: "default off", yaml: ""},
		{name: "file", yaml: "lock_on_sleep: true\nlock_on_screen_lock: true\n", sleep: true, lock: true},
		{name: "environment wins", yaml: "lock_on_sleep: true\n", env: testEnv{"MFAD_LOCK_ON_SLEEP": "false", "MFAD_LOCK_ON_SCREEN_LOCK": "yes"}, lock: true},
		{name: "empty variable is unset", yaml: "lock_on_sleep: true\n", env: testEnv{"MFAD_LOCK_ON_SLEEP": ""}, sleep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for k, v := range tt.env {
				f.env[k] = v
			}
			f.mfad(t, tt.yaml)
			c := f.mustLoad(t)
			if c.LockOnSleep != tt.sleep || c.LockOnScreenLock != tt.lock {
				t.Errorf("LockOnSleep, LockOnScreenLock = %v, %v; want %v, %v", c.LockOnSleep, c.LockOnScreenLock, tt.sleep, tt.lock)
			}
		})
	}
}

func TestLockKeysRejectNonBooleans(t *testing.T) {
	f := newFixture(t)
	f.mfad(t, "lock_on_sleep: \"true\"\nlock_on_screen_lock: 1\n")
	f.wantErr(t, "config.yaml:1: lock_on_sleep", `"true" is not a boolean; write true or false, without quotes`,
		"config.yaml:2: lock_on_screen_lock", "1 (a number) is not a boolean")

	g := newFixture(t)
	g.env["MFAD_LOCK_ON_SCREEN_LOCK"] = "sometimes"
	g.wantErr(t, "MFAD_LOCK_ON_SCREEN_LOCK", `"sometimes" is not a boolean`)
}

func TestSetValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mfad", "config.yaml")
	// A missing file is created.
	if err := SetValue(file, "listen", "127.0.0.1:58321"); err != nil {
		t.Fatal(err)
	}
	// An existing key is replaced in place; comments and other keys stay.
	orig := "# my settings\nlisten: 127.0.0.1:0 # random\nprofiles:\n  work:\n    mfa_serial: " + serialAlice + "\n"
	if err := os.WriteFile(file, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetValue(file, "listen", "127.0.0.1:58321"); err != nil {
		t.Fatal(err)
	}
	if err := SetValue(file, "lock_on_sleep", "true"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"# my settings", "listen: 127.0.0.1:58321 # random", "mfa_serial: " + serialAlice, "lock_on_sleep: true"} {
		if !strings.Contains(got, want) {
			t.Errorf("file after SetValue:\n%s\nlacks %q", got, want)
		}
	}
	c, err := Load(LoadOptions{File: file, HomeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:58321" || !c.LockOnSleep {
		t.Errorf("Listen %q, LockOnSleep %v", c.Listen, c.LockOnSleep)
	}
	for _, bad := range []string{"profiles", "keyring", "colour"} {
		if err := SetValue(file, bad, "x"); err == nil || !strings.Contains(err.Error(), "use one of iam_endpoint, listen") {
			t.Errorf("SetValue(%q): %v", bad, err)
		}
	}
}
