package fileutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Fatalf("read %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	// A write that fails before the rename leaves the file and no
	// temporary file behind.
	var seen string
	err = WriteFileAtomic(path, []byte("three"), 0o600, BeforeRename(func(tmp string) error {
		seen = tmp
		return errors.New("simulated crash")
	}))
	if err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("err = %v", err)
	}
	if filepath.Dir(seen) != dir {
		t.Errorf("temporary file %s is not beside the target", seen)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("content %q after a failed write", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("wrote into a missing directory")
	}
}

// TestWriteFileAtomicConcurrent: writers at once never share a temporary
// file, so the result is one of the contents, whole.
func TestWriteFileAtomicConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if err := WriteFileAtomic(path, []byte(strings.Repeat(fmt.Sprint(i%10), 4096)), 0o600); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(path)
	if len(b) != 4096 || strings.Count(string(b), string(b[0])) != 4096 {
		t.Fatalf("mixed content: %d bytes", len(b))
	}
}

// TestLockSerialises: Lock holders run one at a time, across processes.
func TestLockSerialises(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("counts on advisory locks between processes")
	}
	dir := t.TempDir()
	lock, counter := filepath.Join(dir, "lock"), filepath.Join(dir, "counter")
	if err := os.WriteFile(counter, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	const procs, rounds = 4, 25
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockCounter$")
		cmd.Env = append(os.Environ(), "FILEUTIL_HELPER_LOCK="+lock, "FILEUTIL_HELPER_COUNTER="+counter, fmt.Sprintf("FILEUTIL_HELPER_ROUNDS=%d", rounds))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(counter)
	if string(b) != fmt.Sprint(procs*rounds) {
		t.Fatalf("counter %s, want %d: increments were lost", b, procs*rounds)
	}
}

// TestHelperLockCounter is not a test: it increments a counter file under
// the lock, read-modify-write, FILEUTIL_HELPER_ROUNDS times.
func TestHelperLockCounter(t *testing.T) {
	lock := os.Getenv("FILEUTIL_HELPER_LOCK")
	if lock == "" {
		t.Skip("helper process")
	}
	counter := os.Getenv("FILEUTIL_HELPER_COUNTER")
	var rounds int
	fmt.Sscan(os.Getenv("FILEUTIL_HELPER_ROUNDS"), &rounds)
	for range rounds {
		unlock, err := Lock(context.Background(), lock)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(counter)
		var n int
		fmt.Sscan(string(b), &n)
		if err := WriteFileAtomic(counter, []byte(fmt.Sprint(n+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		unlock()
	}
}

func TestTryLockAndContext(t *testing.T) {
	if runtime.GOOS == "plan9" {
		t.Skip("no advisory locks")
	}
	path := filepath.Join(t.TempDir(), "sub", "lock")
	unlock, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("lock directory: %v %v", fi.Mode(), err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held lock: %v, want the context's error", err)
	}
	unlock()
	again, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after unlock: %v", err)
	}
	again()
}
