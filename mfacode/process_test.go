package mfacode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func runProcess(t *testing.T, script string, timeout time.Duration) (string, error) {
	t.Helper()
	needUnix(t)
	path := writeScript(t, t.TempDir(), "mfa.sh", script)
	p, err := NewProcess(path, timeout, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Code(t.Context(), Request{Profile: "work", MFASerial: "arn:aws:iam::123456789012:mfa/alice"})
}

func TestProcessPrintsCode(t *testing.T) {
	for name, script := range map[string]string{
		"bare":         `echo 123456`,
		"padded":       `printf '  123456 \n\n'`,
		"ykman line":   `echo 'AWS:alice  123456'`,
		"crlf":         `printf '123456\r\n'`,
		"stderr noise": `echo 'touch your key' >&2; echo 123456`,
	} {
		t.Run(name, func(t *testing.T) {
			code, err := runProcess(t, script, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if code != "123456" {
				t.Fatalf("code = %q, want 123456", code)
			}
		})
	}
}

func TestProcessBadOutput(t *testing.T) {
	for name, script := range map[string]string{
		"garbage":     `echo hello world`,
		"seven":       `echo 9876543`,
		"five":        `echo 98765`,
		"nothing":     `true`,
		"two lines":   `echo 987654; echo 876543`,
		"stdin empty": `cat`,
		"letters":     `echo 98765a`,
	} {
		t.Run(name, func(t *testing.T) {
			code, err := runProcess(t, script, 5*time.Second)
			if err == nil {
				t.Fatalf("code %q accepted", code)
			}
			msg := err.Error()
			if !strings.Contains(msg, "printed no 6-digit code") {
				t.Errorf("error %q does not say no code was printed", msg)
			}
			for _, leak := range []string{"hello", "9876543", "98765", "987654", "876543"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q echoes the output %q", msg, leak)
				}
			}
		})
	}
}

func TestProcessExitStatus(t *testing.T) {
	_, err := runProcess(t, `echo 'ykman: no YubiKey found; last code 246810' >&2; exit 2`, 5*time.Second)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "exited with status 2: ykman: no YubiKey found") {
		t.Errorf("error %q lacks the status and stderr", msg)
	}
	if !strings.HasPrefix(msg, "mfa_process `") {
		t.Errorf("error %q does not name mfa_process and its command", msg)
	}
	if strings.Contains(msg, "246810") {
		t.Errorf("error %q shows a 6-digit run from stderr", msg)
	}
}

func TestProcessStderrTruncated(t *testing.T) {
	_, err := runProcess(t, `i=0; while [ $i -lt 200 ]; do printf 'error line %d ' $i >&2; i=$((i+1)); done; exit 3`, 5*time.Second)
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.Error()); n > 800 {
		t.Errorf("error is %d bytes long; stderr should be cut to about 500", n)
	}
}

func TestProcessTimeoutKillsGroup(t *testing.T) {
	needUnix(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	start := time.Now()
	_, err := runProcess(t, `sleep 30 & echo $! > `+pidFile+`; wait`, 300*time.Millisecond)
	if err == nil {
		t.Fatal("no error")
	}
	if elapsed := time.Since(start); elapsed > waitDelay {
		t.Errorf("took %s: the background child was not killed with the shell", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	want := "mfa_process did not answer within 300ms: is the YubiKey plugged in? touch it if it blinks"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if perr != nil {
		t.Fatalf("no child pid recorded: %v", perr)
	}
	if _, serr := os.Stat("/proc/self/stat"); serr != nil {
		return
	}
	// SIGKILL was sent to the group; the child may take a moment to become a
	// zombie (nobody may reap it in a container).
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
			return // dead
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still alive after timeout", pid)
		}
		runtime.Gosched()
	}
}

func TestProcessCancelledByCaller(t *testing.T) {
	needUnix(t)
	path := writeScript(t, t.TempDir(), "mfa.sh", `exec sleep 30`)
	p, err := NewProcess(path, time.Minute, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Code(ctx, Request{Profile: "work"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap the caller's context error", err)
	}
	if strings.Contains(err.Error(), "YubiKey") {
		t.Errorf("the caller's deadline is reported as mfa_process's timeout: %v", err)
	}
}

func TestProcessEnvAndArgv(t *testing.T) {
	needUnix(t)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	argvFile := filepath.Join(dir, "argv")
	script := writeScript(t, dir, "mfa.sh", `
printf '%s|%s|%s' "$MFAD_PROFILE" "$MFAD_MFA_SERIAL" "$MFAD_REASON" > `+envFile+`
{ echo "$0 $*"; tr '\0' ' ' < /proc/$$/cmdline 2>/dev/null; tr '\0' ' ' < /proc/$PPID/cmdline 2>/dev/null; } > `+argvFile+`
echo 135790`)
	p, err := NewProcess(script+" --account AWS", 5*time.Second, ProcessOptions{
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH"), "MFAD_PROFILE=stale"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Code(t.Context(), Request{Profile: "work", MFASerial: "arn:aws:iam::111122223333:mfa/alice", Reason: "window closes"})
	if err != nil {
		t.Fatal(err)
	}
	if code != "135790" {
		t.Fatalf("code = %q", code)
	}
	if got, want := readFile(t, envFile), "work|arn:aws:iam::111122223333:mfa/alice|window closes"; got != want {
		t.Errorf("environment = %q, want %q", got, want)
	}
	argv := readFile(t, argvFile)
	if !strings.Contains(argv, "--account AWS") {
		t.Errorf("argv record %q lacks the command's own arguments", argv)
	}
	if strings.Contains(argv, code) {
		t.Errorf("the code appears in an argument list: %q", argv)
	}
}

func TestNewProcessEmpty(t *testing.T) {
	if _, err := NewProcess("  ", 0, ProcessOptions{}); err == nil || !strings.Contains(err.Error(), "ykman") {
		t.Fatalf("error = %v, want a hint with an example", err)
	}
	p, err := NewProcess("true", 0, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != DefaultProcessTimeout || p.Name() != "process" {
		t.Errorf("timeout %s, name %q", p.timeout, p.Name())
	}
}

func TestParseCodeOutput(t *testing.T) {
	for out, want := range map[string]string{
		"123456":   "123456",
		"123456\n": "123456",
		"Amazon Web Services:alice@example.com 000001": "000001",
		"123456 trailing": "",
		"1234567":         "",
		"１２３４５６":          "",
		"":                "",
	} {
		if got, _ := parseCodeOutput([]byte(out)); got != want {
			t.Errorf("parseCodeOutput(%q) = %q, want %q", out, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	got := scrub([]byte("code 123456 and 1234567890 but 12345 stays"), 500)
	if want := "code ****** and ****** but 12345 stays"; got != want {
		t.Errorf("scrub = %q, want %q", got, want)
	}
	got = scrub([]byte("bad secret JBSWY3DPEHPK3PXP; AccessDeniedException internationalization"), 500)
	if want := "bad secret [redacted]; AccessDeniedException internationalization"; got != want {
		t.Errorf("scrub = %q, want %q", got, want)
	}
	long := strings.Repeat("é", 400)
	if got := scrub([]byte(long), 501); len(got) > 504 || !strings.HasSuffix(got, "…") || strings.Contains(got, "\uFFFD") {
		t.Errorf("scrub cut badly: %d bytes", len(got))
	}
}

// touchNotifier records notifications and creates a file when notified, as
// the touch a waiting mfa_process expects.
type touchNotifier struct {
	touched string
	bodies  chan string
}

func (n *touchNotifier) Notify(_ context.Context, title, body string) error {
	n.bodies <- title + ": " + body
	return os.WriteFile(n.touched, nil, 0o600)
}

func TestProcessAnnouncesItWaitsForATouch(t *testing.T) {
	needUnix(t)
	dir := t.TempDir()
	touched := filepath.Join(dir, "touched")
	// The command waits for the "touch" the notification brings.
	path := writeScript(t, dir, "mfa.sh", `while [ ! -e "`+touched+`" ]; do sleep 0.01; done; echo 123456`)
	n := &touchNotifier{touched: touched, bodies: make(chan string, 4)}
	p, err := NewProcess(path, time.Minute, ProcessOptions{Notifier: n, TouchNotice: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Code(t.Context(), Request{Profile: "work", MFASerial: "arn:aws:iam::123456789012:mfa/alice"})
	if err != nil || code != "123456" {
		t.Fatalf("Code = %q, %v", code, err)
	}
	if got := <-n.bodies; !strings.Contains(got, "touch your security key") || !strings.Contains(got, "work") {
		t.Fatalf("notification %q", got)
	}

	// A command that answers before the notice is not announced.
	fast := writeScript(t, dir, "fast.sh", `echo 123456`)
	p, err = NewProcess(fast, time.Minute, ProcessOptions{Notifier: n, TouchNotice: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Code(t.Context(), Request{Profile: "work"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-n.bodies:
		t.Fatalf("a fast command was announced: %q", got)
	default:
	}
}
