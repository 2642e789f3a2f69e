package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// socketName is the control socket's file name inside the runtime directory.
const socketName = "control.sock"

// RuntimeDir returns the directory that holds the daemon's control socket,
// looking up environment variables through getenv (os.Getenv when nil):
//
//   - $XDG_RUNTIME_DIR/mfad when XDG_RUNTIME_DIR is set; it must be an
//     absolute path to an existing directory owned by the current user
//     (one inherited through sudo or su is refused rather than shared);
//   - on macOS, $TMPDIR/mfad-<uid> (the same place os.TempDir points to;
//     TMPDIR is per-user there);
//   - otherwise <user cache dir>/mfad/run, where the user cache dir is the
//     one os.UserCacheDir would choose ($XDG_CACHE_HOME or ~/.cache on
//     Unix, %LocalAppData% on Windows).
//
// The directory itself is not created or checked; call EnsureRuntimeDir
// before listening in it.
func RuntimeDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv("XDG_RUNTIME_DIR"); x != "" {
		if err := checkXDGRuntimeDir(x); err != nil {
			return "", err
		}
		return filepath.Join(x, "mfad"), nil
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		tmp := getenv("TMPDIR")
		if tmp == "" {
			tmp = "/tmp"
		}
		return filepath.Join(tmp, fmt.Sprintf("mfad-%d", os.Getuid())), nil
	}
	cache, err := userCacheDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "mfad", "run"), nil
}

// checkXDGRuntimeDir verifies that XDG_RUNTIME_DIR names the current user's
// own directory.
func checkXDGRuntimeDir(x string) error {
	if !filepath.IsAbs(x) {
		return fmt.Errorf("XDG_RUNTIME_DIR=%q is not an absolute path: set it to your runtime directory or unset it", x)
	}
	fi, err := os.Stat(x)
	if err != nil {
		return fmt.Errorf("XDG_RUNTIME_DIR=%s cannot be used for the mfad socket: %w (log in again so it is recreated, or unset it)", x, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("XDG_RUNTIME_DIR=%s is not a directory: set it to your runtime directory or unset it", x)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
		return fmt.Errorf("XDG_RUNTIME_DIR=%s belongs to uid %d, not to you (uid %d); it was probably inherited through sudo or su: unset it or point it at your own runtime directory", x, uid, os.Getuid())
	}
	return nil
}

// userCacheDir resolves the directory os.UserCacheDir would return, reading
// the environment through getenv.
func userCacheDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return d, nil
		}
		return "", errors.New("%LocalAppData% is not set, so mfad has nowhere to put its control socket: set it (normally C:\\Users\\<you>\\AppData\\Local)")
	case "plan9":
		if h := getenv("home"); h != "" {
			return filepath.Join(h, "lib", "cache"), nil
		}
		return "", errors.New("$home is not set, so mfad has nowhere to put its control socket: set it")
	}
	if d := getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache"), nil
	}
	return "", errors.New("neither XDG_RUNTIME_DIR nor HOME is set, so mfad has nowhere to put its control socket: set one of them")
}

// SocketPath returns the path of the control socket inside the runtime
// directory dir.
func SocketPath(dir string) string {
	return filepath.Join(dir, socketName)
}

// EnsureRuntimeDir creates dir (and missing parents) with mode 0700, or, if
// it exists, verifies that it is a directory (not a symlink) owned by the
// current user. Group or other permission bits on a directory the user owns
// are removed; a directory owned by anyone else is refused, since whoever
// owns it could replace the socket and receive the CLI's requests.
//
// On Windows the directory lives in the user's profile and inherits its
// access control list; only its existence and type are checked.
func EnsureRuntimeDir(dir string) error {
	if dir == "" {
		return errors.New("empty mfad runtime directory path")
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the mfad runtime directory: %w", err)
		}
		if fi, err = os.Lstat(dir); err != nil {
			return fmt.Errorf("checking the mfad runtime directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("checking the mfad runtime directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mfad runtime directory %s is not a directory (mode %s): remove it and try again", dir, fi.Mode().Type())
	}
	return securePrivateDir(dir, fi)
}
