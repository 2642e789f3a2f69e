package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
)

const (
	auditLine1 = `{"time":"2026-11-23T09:00:00Z","event":"token_issued","via":"control","token_id":"00112233aabbccdd","token_kind":"daemon","label":"daemon","pid":4242,"exe":"/usr/bin/mfad"}`
	auditLine2 = `{"time":"2026-11-23T09:00:01Z","event":"fetch","via":"endpoint","profile":"work","token_id":"00112233aabbccdd","status":200,"pid":777,"uid":1000,"exe":"/usr/bin/python3","ppid":700,"parent_exe":"/bin/bash"}`
	auditLine3 = `{"time":"2026-11-23T09:00:02Z","event":"fetch","via":"endpoint","profile":"work","status":403,"reason":"unknown_token","token_id":"ffeeddccbbaa9988","pid":0,"uid":1001}`
	auditLine4 = `{"time":"2026-11-23T09:01:02Z","event":"refused","via":"endpoint","count":950,"pid":0}`
	auditLine5 = `{"time":"2026-11-23T09:05:00Z","since":"2026-11-23T09:00:01Z","event":"fetches","via":"endpoint","profile":"work","token_id":"00112233aabbccdd","status":200,"count":41,"pid":777,"uid":1000,"exe":"/usr/bin/python3","ppid":700,"parent_exe":"/bin/bash"}`
)

// runAudit runs `mfad audit ARGS…` with MFAD_AUDIT_LOG=path.
func runAudit(t *testing.T, path string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "MFAD_AUDIT_LOG" {
				return path
			}
			return ""
		}}
	root := NewRoot(app)
	root.SetArgs(append([]string{"audit"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditTableAndJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if _, _, err := runAudit(t, path); err == nil || !strings.Contains(err.Error(), "no audit log at "+path) {
		t.Fatalf("no log: %v", err)
	}
	writeLines(t, path+".1", auditLine1)
	writeLines(t, path, auditLine2, "not json", auditLine3, auditLine4, auditLine5)
	out, errs, err := runAudit(t, path)
	if err != nil {
		t.Fatal(err)
	}
	// The fetch and the fetches of pid 777 are added up in one row.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("table:\n%s", out)
	}
	first, last := fmtTime(time.Date(2026, 11, 23, 9, 0, 1, 0, time.UTC)), fmtTime(time.Date(2026, 11, 23, 9, 5, 0, 0, time.UTC))
	for i, want := range [][]string{
		{"FIRST", "LAST", "COUNT", "EVENT", "PROFILE", "TOKEN", "STATUS", "PID", "EXE"},
		{"token_issued", "00112233aabbccdd", "4242", "/usr/bin/mfad", "daemon token"},
		{first, last, " 42 ", "fetch", "work", "00112233aabbccdd", "200", "777", "/usr/bin/python3", "parent 700 /bin/bash"},
		{"fetch", "work", "ffeeddccbbaa9988", "403", "unknown_token", "from uid 1001"},
		{"refused", "950 requests"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if !strings.Contains(errs, "skipping a line that is not an audit entry") {
		t.Errorf("stderr %q", errs)
	}
	out, _, err = runAudit(t, path, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join([]string{auditLine1, auditLine2, "not json", auditLine3, auditLine4, auditLine5}, "\n") + "\n"; out != want {
		t.Fatalf("--json printed\n%s\nwant\n%s", out, want)
	}
	// --follow prints the lines one by one.
	p := &auditPrinter{w: &bytes.Buffer{}, errw: io.Discard}
	p.write([]byte(auditLine2 + "\n" + auditLine5 + "\n"))
	rows := strings.Split(strings.TrimSuffix(p.w.(*bytes.Buffer).String(), "\n"), "\n")
	if len(rows) != 3 || !strings.Contains(rows[1], " 1 ") || !strings.Contains(rows[2], " 41 ") || !strings.Contains(rows[2], "fetches") {
		t.Fatalf("lines one by one:\n%s", p.w)
	}
}

// TestAuditFollow drives the follower's ticks by hand: each send returns
// once the follower waits for the next tick, that is, once it has printed
// everything it found.
func TestAuditFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	out := &testenv.SafeBuffer{}
	p := &auditPrinter{w: out, errw: out, json: true}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- followAudit(ctx, path, p, tick) }()
	step := func() {
		tick <- time.Time{}
		tick <- time.Time{}
	}
	step() // no file yet
	writeLines(t, path, auditLine1)
	step()
	if out.String() != auditLine1+"\n" {
		t.Fatalf("after the first line: %q", out)
	}
	// A half-written line waits for its end.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(auditLine2[:20])
	step()
	if out.String() != auditLine1+"\n" {
		t.Fatalf("printed a partial line: %q", out)
	}
	f.WriteString(auditLine2[20:] + "\n")
	f.Close()
	step()
	if out.String() != auditLine1+"\n"+auditLine2+"\n" {
		t.Fatalf("after the second line: %q", out)
	}
	// Rotation: the last lines of the old file, then the new file.
	writeLines(t, path, auditLine3)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeLines(t, path, auditLine4)
	step()
	if want := strings.Join([]string{auditLine1, auditLine2, auditLine3, auditLine4}, "\n") + "\n"; out.String() != want {
		t.Fatalf("after rotation:\n%s\nwant\n%s", out, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
