// Package fileutil holds the two file operations every part of mfad that
// keeps state on disk shares: replacing a file atomically and durably, and
// an advisory lock that serialises mfad processes.
package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrDirNotSynced is wrapped by the error WriteFileAtomic returns when the
// file was replaced but its directory could not be flushed: the new content
// is in place, but a crash soon may lose the change.
var ErrDirNotSynced = errors.New("the directory could not be flushed")

// AtomicOption tunes WriteFileAtomic.
type AtomicOption func(*atomicOptions)

type atomicOptions struct {
	beforeRename func(tmp string) error
}

// BeforeRename sets a hook called once the temporary file is written,
// synced and closed, before it replaces the target. An error from it
// aborts the write and leaves the target unchanged. Tests use it to
// simulate a crash.
func BeforeRename(hook func(tmp string) error) AtomicOption {
	return func(o *atomicOptions) { o.beforeRename = hook }
}

// WriteFileAtomic replaces path with data, so that a reader, or the file
// after a crash, has either the old content or the new, never a mix: data
// goes to a new temporary file in the same directory (its name unique, so
// concurrent writers never share one), with mode perm, is flushed to disk,
// and the file is renamed over path; then the directory is flushed so that
// the rename survives a crash. The directory must exist. On error the
// temporary file is removed and path is unchanged, unless the error wraps
// ErrDirNotSynced.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode, opts ...AtomicOption) (err error) {
	var o atomicOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Chmod sets perm exactly, whatever
	// the umask. Windows has no such modes.
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: flush: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if o.beforeRename != nil {
		if err := o.beforeRename(tmp); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("wrote %s, but %w (%v): a crash soon may lose the change", path, ErrDirNotSynced, err)
	}
	return nil
}
