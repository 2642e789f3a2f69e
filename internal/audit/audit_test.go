package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/internal/testenv"
)

func entries(t *testing.T, log string) []Entry {
	t.Helper()
	var out []Entry
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestAuditFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "audit.log")
	a, err := OpenFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes
	for i := 0; i < 5; i++ {
		if _, err := a.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	// 40+40 fit; the third rotates; then 40+40 again; the fifth rotates.
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(cur) != 40 || len(old) != 80 {
		t.Fatalf("after 5 lines: current %d bytes, rotated %d bytes", len(cur), len(old))
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]os.FileMode{false: 0o600, true: 0o700}[fi.IsDir()]; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	// At start: a log over the limit is rotated, and a loose mode fixed.
	big := filepath.Join(dir, "big.log")
	if err := os.WriteFile(big, make([]byte, 200), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err = OpenFile(big, 100)
	if err != nil {
		t.Fatal(err)
	}
	a.Write(line)
	a.Close()
	if fi, _ := os.Stat(big + ".1"); fi == nil || fi.Size() != 200 {
		t.Fatalf("not rotated at start: %v", fi)
	}
	if fi, _ := os.Stat(big); fi.Size() != 40 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new log: %d bytes, mode %v", fi.Size(), fi.Mode().Perm())
	}
	// A log under the limit is kept, and its mode tightened.
	small := filepath.Join(dir, "small.log")
	os.WriteFile(small, line, 0o644)
	a, err = OpenFile(small, 100)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if fi, _ := os.Stat(small); fi.Size() != 40 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("small log: %d bytes, mode %v", fi.Size(), fi.Mode().Perm())
	}
	if _, err := a.Write(line); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

// blockingWriter blocks writes until released.
type blockingWriter struct {
	release chan struct{}
	buf     testenv.SafeBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.buf.Write(p)
}

func TestAuditDropsAreCounted(t *testing.T) {
	e := testenv.New(t)
	bw := &blockingWriter{release: make(chan struct{})}
	a := New(bw, e.Clock, e.Logger)
	// More than the queue and the goroutine's batch (64 KiB) can hold.
	const n = 2 * queueSize
	for i := 0; i < n; i++ {
		a.Record(Entry{Event: Fetch, Via: "endpoint", Profile: "work", Status: 200})
	}
	close(bw.release)
	a.Close()
	a.Record(Entry{Event: Fetch}) // after close: discarded, no panic
	var lines, dropped int64
	for _, en := range entries(t, bw.buf.String()) {
		switch en.Event {
		case Fetch:
			lines++
		case Dropped:
			dropped += en.Count
		}
	}
	if dropped == 0 || lines+dropped != n {
		t.Fatalf("%d lines + %d dropped, want %d in all with some dropped", lines, dropped, n)
	}
}
