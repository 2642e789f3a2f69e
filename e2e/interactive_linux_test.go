package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testpty"
)

// ptySession runs mfad on a pseudo-terminal, as a person would.
type ptySession struct {
	t   *testing.T
	mu  sync.Mutex
	out bytes.Buffer
	in  func(string)
	cmd *exec.Cmd
}

func (w *world) onTerminal(args ...string) *ptySession {
	w.t.Helper()
	controller, terminal := testpty.Open(w.t)
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, terminal, terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	s := &ptySession{t: w.t, cmd: cmd}
	s.in = func(line string) { controller.WriteString(line + "\n") }
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := controller.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// expect waits until the terminal shows text.
func (s *ptySession) expect(text string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		ok := strings.Contains(s.out.String(), text)
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the terminal never showed %q; it shows %q", text, s.screen())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *ptySession) screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *ptySession) wait() error {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("mfad did not finish; the terminal shows %q", s.screen())
		return nil
	}
}

func TestTerminalPrompts(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()

	// add asks for the key with hidden input: nothing typed is echoed.
	s := w.onTerminal("add", "work")
	s.expect("Access key id: ")
	s.in(w.user.AccessKeyID)
	s.expect("Secret access key: ")
	s.in(w.user.SecretAccessKey)
	if err := s.wait(); err != nil {
		t.Fatalf("add: %v: %q", err, s.screen())
	}
	w.check("the terminal during add", s.screen())
	if !strings.Contains(s.screen(), "Stored the access key") {
		t.Fatalf("add: %q", s.screen())
	}

	// exec on a locked profile asks for a code, then runs the command.
	s = w.onTerminal("exec", "--profile", "admin", "--", "sh", "-c", "echo command-ran")
	s.expect("MFA code for work: ")
	s.in(w.emu.Code(w.user, time.Now()))
	s.expect("command-ran")
	if err := s.wait(); err != nil {
		t.Fatalf("exec: %v: %q", err, s.screen())
	}

	// unlock asks for the code; a wrong one gets an error that says why.
	w.must(nil, "lock", "work")
	s = w.onTerminal("unlock", "work")
	s.expect("MFA code for work: ")
	s.in("12345")
	if err := s.wait(); err == nil || !strings.Contains(s.screen(), "exactly 6 digits") {
		t.Fatalf("unlock with 5 digits: %v: %q", err, s.screen())
	}
}
