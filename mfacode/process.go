package mfacode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/c0950fac/mfad/internal/childenv"
)

const (
	// maxStdout bounds how much of mfa_process's output is kept.
	maxStdout = 4 << 10
	// maxStderr bounds how much of a program's error output is kept.
	maxStderr = 16 << 10
	// stderrInError is how much error output an error message shows.
	stderrInError = 500
	// waitDelay bounds the wait for output pipes after a program exits or is killed.
	waitDelay = 2 * time.Second
)

// ProcessOptions tunes a Process source.
type ProcessOptions struct {
	// Environ returns the environment the command starts from (default
	// os.Environ). mfad's secrets (MFAD_FILE_PASSPHRASE) are removed from
	// it; MFAD_PROFILE, MFAD_MFA_SERIAL and MFAD_REASON are added.
	Environ func() []string
	// Logger receives debug messages (default: discarded).
	Logger *slog.Logger
	// Notifier, when set, announces that the command is waiting — for a
	// touch of a security key, typically — once it has run for TouchNotice.
	Notifier Notifier
	// TouchNotice is how long the command may run before the announcement
	// (default DefaultTouchNotice).
	TouchNotice time.Duration
}

// DefaultTouchNotice is how long mfa_process may run before a notification
// says it waits, for a YubiKey touch most likely: codes that need no touch
// come faster.
const DefaultTouchNotice = 700 * time.Millisecond

// Process is the "process" source: it runs mfa_process through the user's
// shell (/bin/sh -c on Unix, cmd /C on Windows) and reads the code it prints.
//
// The command sees an empty standard input and the environment variables
// MFAD_PROFILE, MFAD_MFA_SERIAL and MFAD_REASON. It must print the 6-digit
// code, alone or at the end of a single line (as `ykman oath accounts code`
// does). It is killed, with any programs it started, when the timeout passes.
type Process struct {
	command  string
	timeout  time.Duration
	environ  func() []string
	log      *slog.Logger
	notifier Notifier
	notice   time.Duration
}

// NewProcess returns a source that runs command with the given timeout
// (DefaultProcessTimeout when zero or negative).
func NewProcess(command string, timeout time.Duration, opts ProcessOptions) (*Process, error) {
	if strings.TrimSpace(command) == "" {
		return nil, errors.New("mfa_process is empty: set it to a command that prints the code, e.g. `ykman oath accounts code --single NAME`")
	}
	if timeout <= 0 {
		timeout = DefaultProcessTimeout
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ
	}
	if opts.TouchNotice <= 0 {
		opts.TouchNotice = DefaultTouchNotice
	}
	return &Process{command: command, timeout: timeout, environ: opts.Environ, log: orDiscard(opts.Logger),
		notifier: opts.Notifier, notice: opts.TouchNotice}, nil
}

// Name returns "process".
func (p *Process) Name() string { return SourceProcess }

// Code runs the command and returns the code it printed.
func (p *Process) Code(ctx context.Context, req Request) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("mfa_process `%s` not run: %w", p.command, err)
	}
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	cmd := shellCommand(tctx, p.command)
	cmd.Env = withEnv(childenv.Scrub(p.environ()), map[string]string{
		"MFAD_PROFILE":    req.Profile,
		"MFAD_MFA_SERIAL": req.MFASerial,
		"MFAD_REASON":     req.Reason,
	})
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stdin = nil // the null device
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay

	p.log.DebugContext(ctx, "running mfa_process", "profile", req.Profile, "command", p.command)
	err := cmd.Start()
	if err == nil {
		stop := p.announce(tctx, req)
		err = cmd.Wait()
		stop()
	}
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("mfa_process `%s` stopped: %w", p.command, ctx.Err())
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		return "", &msgError{
			msg: fmt.Sprintf("mfa_process did not answer within %s: is the YubiKey plugged in? touch it if it blinks", p.timeout),
			err: tctx.Err(),
		}
	case err != nil:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
			msg := fmt.Sprintf("mfa_process `%s` exited with status %d", p.command, exitErr.ExitCode())
			if s := scrub(stderr.buf, stderrInError); s != "" {
				msg += ": " + s
			} else {
				msg += " and printed no error message: run it in a terminal to see what is wrong"
			}
			return "", &msgError{msg: msg, err: err}
		}
		if errors.Is(err, exec.ErrWaitDelay) {
			return "", fmt.Errorf("mfa_process `%s` left a program running that holds its output open: make it exit when done: %w", p.command, err)
		}
		return "", fmt.Errorf("mfa_process `%s` could not be run: %w", p.command, err)
	}
	code, why := parseCodeOutput(stdout.buf)
	if code == "" {
		return "", fmt.Errorf("mfa_process `%s` printed no 6-digit code: %s", p.command, why)
	}
	p.log.DebugContext(ctx, "mfa_process printed a code", "profile", req.Profile)
	return code, nil
}

// announce notifies, once the command has run for p.notice, that it waits
// for a touch. The returned function cancels a notice not yet shown and
// waits for one being shown.
func (p *Process) announce(ctx context.Context, req Request) (stop func()) {
	if p.notifier == nil {
		return func() {}
	}
	done := make(chan struct{})
	cancelled := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(p.notice)
		defer t.Stop()
		select {
		case <-cancelled:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		body := fmt.Sprintf("mfa_process is waiting for profile %s: touch your security key if it blinks.", req.Profile)
		if req.Reason != "" {
			body += " (" + req.Reason + ")"
		}
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := p.notifier.Notify(nctx, "mfad: touch your security key", body); err != nil {
			p.log.Debug("could not show the touch notification", "error", err)
		}
	}()
	return func() {
		close(cancelled)
		<-done
	}
}

// parseCodeOutput finds the code in a command's output: the whole trimmed
// output, or the last field of its only line. On failure it returns "" and
// a description that never includes the output.
func parseCodeOutput(out []byte) (code, why string) {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "", "it printed nothing on standard output"
	}
	if n := strings.Count(s, "\n") + 1; n > 1 {
		return "", fmt.Sprintf("it printed %d lines; it must print one line ending in the code (send anything else to standard error)", n)
	}
	if isCode(s) {
		return s, ""
	}
	fields := strings.Fields(s)
	if last := fields[len(fields)-1]; isCode(last) {
		return last, ""
	}
	return "", "it must print only the code, or one line ending in it (like `ykman oath accounts code NAME`)"
}

// withEnv returns env with the given variables set, replacing earlier values.
func withEnv(env []string, set map[string]string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; ok {
			continue
		}
		out = append(out, kv)
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		out = append(out, name+"="+set[name])
	}
	return out
}
