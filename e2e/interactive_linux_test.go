package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c0950fac/mfad/internal/testpty"
)

// ptySession runs mfad on a pseudo-terminal, as a person would.
type ptySession struct {
	t    *testing.T
	mu   sync.Mutex
	out  bytes.Buffer
	in   func(string)
	cmd  *exec.Cmd
	term *os.File
	// read is closed once everything the program wrote has been read.
	read chan struct{}
}

func (w *world) onTerminal(args ...string) *ptySession {
	w.t.Helper()
	controller, terminal := testpty.Open(w.t)
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, terminal, terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	s := &ptySession{t: w.t, cmd: cmd, term: terminal, read: make(chan struct{})}
	s.in = func(line string) { controller.WriteString(line + "\n") }
	go func() {
		defer close(s.read)
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

// hiddenInput waits until the program has turned the terminal's echo off
// (as it does before reading a secret), so that what is typed next is not
// echoed because it arrived early.
func (s *ptySession) hiddenInput() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(s.term.Fd()), unix.TCGETS)
		if err == nil && tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the terminal's echo never went off: %v; it shows %q", err, s.screen())
		}
		time.Sleep(2 * time.Millisecond)
	}
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

// wait waits for the program to end and for all it wrote to be read: the
// terminal end is closed, so that the controller reads what the terminal
// still buffers and then an end (EIO). The screen is then complete.
func (s *ptySession) wait() error {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("mfad did not finish; the terminal shows %q", s.screen())
		return nil
	}
	s.term.Close()
	select {
	case <-s.read:
	case <-time.After(15 * time.Second):
		s.t.Fatalf("the terminal's output was never all read; it shows %q", s.screen())
	}
	return err
}

func TestTerminalPrompts(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()

	// add asks for the key with hidden input: nothing typed is echoed.
	s := w.onTerminal("add", "work")
	s.expect("Access key id: ")
	s.hiddenInput()
	s.in(w.user.AccessKeyID)
	s.expect("Secret access key: ")
	s.hiddenInput()
	s.in(w.user.SecretAccessKey)
	if err := s.wait(); err != nil {
		t.Fatalf("add: %v: %q", err, s.screen())
	}
	s.expect("Stored the access key")
	w.check("the terminal during add", s.screen())

	// exec on a locked profile asks for a code, then runs the command.
	// (The code is visible as typed, as authenticator codes usually are.)
	s = w.onTerminal("exec", "--profile", "admin", "--", "sh", "-c", "echo command-ran")
	s.expect("MFA code for work: ")
	s.in(w.emu.Code(w.user, time.Now()))
	if err := s.wait(); err != nil {
		t.Fatalf("exec: %v: %q", err, s.screen())
	}
	s.expect("command-ran")

	// unlock asks for the code; a wrong one gets an error that says why.
	w.must(nil, "lock", "work")
	s = w.onTerminal("unlock", "work")
	s.expect("MFA code for work: ")
	s.in("12345")
	if err := s.wait(); err == nil {
		t.Fatalf("unlock with 5 digits succeeded: %q", s.screen())
	}
	s.expect("exactly 6 digits")
}
