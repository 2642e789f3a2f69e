package ipc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// nobody is the uid/gid used as "another user" by the root-only tests.
const nobody = 65534

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRuntimeDir(t *testing.T) {
	xdg := t.TempDir()
	got, err := RuntimeDir(env(map[string]string{"XDG_RUNTIME_DIR": xdg, "HOME": "/home/x"}))
	if err != nil || got != filepath.Join(xdg, "mfad") {
		t.Fatalf("RuntimeDir with XDG_RUNTIME_DIR = %q, %v; want %q", got, err, filepath.Join(xdg, "mfad"))
	}
	if SocketPath(got) != filepath.Join(xdg, "mfad", "control.sock") {
		t.Errorf("SocketPath = %q", SocketPath(got))
	}

	for name, bad := range map[string]string{
		"relative": "run/user",
		"missing":  filepath.Join(xdg, "does-not-exist"),
	} {
		if _, err := RuntimeDir(env(map[string]string{"XDG_RUNTIME_DIR": bad, "HOME": "/home/x"})); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
			t.Errorf("%s XDG_RUNTIME_DIR: err = %v, want an error naming XDG_RUNTIME_DIR", name, err)
		}
	}

	switch runtime.GOOS {
	case "darwin", "ios":
		got, err = RuntimeDir(env(map[string]string{"TMPDIR": "/var/folders/xy/T/"}))
		want := fmt.Sprintf("/var/folders/xy/T/mfad-%d", os.Getuid())
		if err != nil || got != want {
			t.Errorf("RuntimeDir on macOS = %q, %v; want %q", got, err, want)
		}
	case "windows":
		got, err = RuntimeDir(env(map[string]string{"LocalAppData": `C:\Users\x\AppData\Local`}))
		if want := filepath.Join(`C:\Users\x\AppData\Local`, "mfad", "run"); err != nil || got != want {
			t.Errorf("RuntimeDir on Windows = %q, %v; want %q", got, err, want)
		}
	default:
		got, err = RuntimeDir(env(map[string]string{"HOME": "/home/x"}))
		if want := "/home/x/.cache/mfad/run"; err != nil || got != want {
			t.Errorf("RuntimeDir without XDG_RUNTIME_DIR = %q, %v; want %q", got, err, want)
		}
		got, err = RuntimeDir(env(map[string]string{"HOME": "/home/x", "XDG_CACHE_HOME": "/cache"}))
		if want := "/cache/mfad/run"; err != nil || got != want {
			t.Errorf("RuntimeDir with XDG_CACHE_HOME = %q, %v; want %q", got, err, want)
		}
		if _, err := RuntimeDir(env(nil)); err == nil {
			t.Error("RuntimeDir with no HOME succeeded")
		}
	}
}

func TestRuntimeDirRefusesForeignXDG(t *testing.T) {
	requireRoot(t)
	xdg := t.TempDir()
	if err := os.Chown(xdg, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err := RuntimeDir(env(map[string]string{"XDG_RUNTIME_DIR": xdg}))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("uid %d", nobody)) {
		t.Fatalf("RuntimeDir with another user's XDG_RUNTIME_DIR = %v, want a refusal", err)
	}
}

func TestEnsureRuntimeDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
	base := t.TempDir()

	t.Run("creates with parents", func(t *testing.T) {
		dir := filepath.Join(base, "a", "b", "mfad")
		if err := EnsureRuntimeDir(dir); err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, 0o700)
		if err := EnsureRuntimeDir(dir); err != nil {
			t.Fatalf("second EnsureRuntimeDir: %v", err)
		}
	})
	t.Run("tightens own dir", func(t *testing.T) {
		dir := filepath.Join(base, "loose")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		if err := EnsureRuntimeDir(dir); err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, 0o700)
	})
	t.Run("refuses a file", func(t *testing.T) {
		f := filepath.Join(base, "file")
		os.WriteFile(f, nil, 0o600)
		if err := EnsureRuntimeDir(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("EnsureRuntimeDir on a file = %v", err)
		}
	})
	t.Run("refuses a symlink", func(t *testing.T) {
		target := filepath.Join(base, "target")
		os.Mkdir(target, 0o700)
		link := filepath.Join(base, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := EnsureRuntimeDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("EnsureRuntimeDir on a symlink = %v", err)
		}
	})
}

func TestEnsureRuntimeDirRefusesForeignOwner(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "mfad")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	err := EnsureRuntimeDir(dir)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("owned by uid %d", nobody)) {
		t.Fatalf("EnsureRuntimeDir on another user's dir = %v, want a refusal", err)
	}
	// Refused, not repaired.
	assertMode(t, dir, 0o755)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s mode = %v, want %v", path, fi.Mode().Perm(), want)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" || os.Getuid() != 0 {
		t.Skip("needs root on a Unix system, to act as or create files for a second user (uid 65534)")
	}
}
