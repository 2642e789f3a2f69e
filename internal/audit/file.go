package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// MaxSize is the size past which the audit log file is rotated.
const MaxSize = 10 << 20

// Generations is how many rotated files are kept beside the current one:
// PATH.1 (the newest) to PATH.N. With requests counted rather than written
// one by one, a desktop's week of use takes a few MiB at most.
const Generations = 2

// Files returns the paths of the audit log at path, oldest first: the
// rotated generations, then path itself.
func Files(path string) []string {
	out := make([]string, 0, Generations+1)
	for i := Generations; i >= 1; i-- {
		out = append(out, fmt.Sprintf("%s.%d", path, i))
	}
	return append(out, path)
}

// File is an append-only audit log file that keeps its size bounded:
// when it would grow past its limit, it is renamed to PATH.1 (PATH.1
// becoming PATH.2, and so on, the oldest of Generations dropped) and a new
// file is started, so the log never takes much more than Generations+1
// times the limit. It is safe for concurrent use; writes of whole lines
// never straddle two files.
type File struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenFile opens the audit log at path for appending (mode 0600, in a
// 0700 directory created when missing), rotating it first when it already
// holds max bytes or more (max <= 0 means MaxSize).
func OpenFile(path string, max int64) (*File, error) {
	if max <= 0 {
		max = MaxSize
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the audit log directory: %w (set MFAD_AUDIT_LOG to another path)", err)
	}
	a := &File{path: path, max: max}
	if fi, err := os.Stat(path); err == nil && fi.Size() >= max {
		if err := a.rotate(); err != nil {
			return nil, fmt.Errorf("rotate the audit log: %w (move %s away, or set MFAD_AUDIT_LOG to another path)", err, path)
		}
	}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

// rotate shifts the generations and renames the current file to PATH.1.
func (a *File) rotate() error {
	for i := Generations; i > 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", a.path, i-1), fmt.Sprintf("%s.%d", a.path, i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Rename(a.path, a.path+".1")
}

func (a *File) open() error {
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open the audit log: %w (set MFAD_AUDIT_LOG to another path)", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open the audit log: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Entries name profiles, processes and tokens: keep them private.
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return fmt.Errorf("restrict the audit log %s to mode 0600: %w", a.path, err)
		}
	}
	a.f, a.size = f, fi.Size()
	return nil
}

// Write appends p, which must hold whole lines, rotating the file first
// when p would take it past its limit.
func (a *File) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return 0, errors.New("the audit log is closed")
	}
	if a.size > 0 && a.size+int64(len(p)) > a.max {
		old := a.f
		if err := a.rotate(); err == nil {
			if err := a.open(); err == nil {
				old.Close()
			} else {
				a.f = old // keep appending to the renamed file
			}
		}
	}
	n, err := a.f.Write(p)
	a.size += int64(n)
	return n, err
}

// Close closes the file.
func (a *File) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
