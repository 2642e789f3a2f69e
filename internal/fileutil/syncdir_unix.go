//go:build !windows

package fileutil

import (
	"errors"
	"os"
	"syscall"
)

// syncDir flushes a directory so that a rename in it survives a crash.
// File systems that cannot sync a directory are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
