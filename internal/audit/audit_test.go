package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	sizes := func() (n []int) {
		for _, f := range Files(path) {
			b, _ := os.ReadFile(f)
			n = append(n, len(b))
		}
		return n
	}
	if got := sizes(); !slices.Equal(got, []int{80, 80, 40}) {
		t.Fatalf("after 5 lines: %v bytes in %v", got, Files(path))
	}
	// Two more: the oldest generation is dropped.
	a, err = OpenFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte(strings.Repeat("y", 39) + "\n"))
	a.Write([]byte(strings.Repeat("z", 39) + "\n"))
	a.Close()
	if got := sizes(); !slices.Equal(got, []int{80, 80, 40}) {
		t.Fatalf("after 7 lines: %v bytes", got)
	}
	if b, _ := os.ReadFile(path + ".2"); strings.Contains(string(b), "y") || !strings.Contains(string(b), "x") {
		t.Fatalf("oldest generation %q", b)
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
