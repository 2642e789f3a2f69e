//go:build unix

package ipc

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// fileOwner returns the uid owning fi.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// securePrivateDir makes sure dir, described by fi, is owned by the current
// user and has mode 0700.
func securePrivateDir(dir string, fi fs.FileInfo) error {
	uid, ok := fileOwner(fi)
	if !ok {
		return fmt.Errorf("cannot tell who owns the mfad runtime directory %s", dir)
	}
	if me := os.Getuid(); uid != me {
		return fmt.Errorf("mfad runtime directory %s is owned by uid %d, not by you (uid %d), so another user could intercept mfad requests: remove it (as its owner or root) and try again, or set XDG_RUNTIME_DIR to a directory of your own", dir, uid, me)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restricting the mfad runtime directory %s to mode 0700: %w", dir, err)
		}
	}
	return nil
}
