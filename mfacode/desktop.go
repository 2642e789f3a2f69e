package mfacode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/c0950fac/mfad/internal/childenv"
)

// notifyTimeout bounds a notification program.
const notifyTimeout = 10 * time.Second

// Dialog programs, as written in mfa_dialog.
const (
	DialogAuto      = "auto"
	DialogZenity    = "zenity"
	DialogKDialog   = "kdialog"
	DialogOSAScript = "osascript"
)

// CommandRunner runs the program at path with args and an empty standard
// input, and returns what it printed on standard output. When the program
// exits non-zero, the error has an ExitCode() int method that errors.As can
// find. Errors never include standard output.
type CommandRunner func(ctx context.Context, path string, args []string) ([]byte, error)

// RunCommand is the production CommandRunner: it runs the program directly
// (no shell) and kills it when ctx is done.
func RunCommand(ctx context.Context, path string, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = childenv.Environ()
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stdin = nil
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if err == nil {
		return stdout.buf, nil
	}
	name := filepath.Base(path)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s stopped: %w", name, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		msg := fmt.Sprintf("%s exited with status %d", name, exitErr.ExitCode())
		if s := scrub(stderr.buf, stderrInError); s != "" {
			msg += ": " + s
		}
		return nil, &msgError{msg: msg, err: err}
	}
	return nil, fmt.Errorf("running %s: %w", name, err)
}

// DesktopNotifier shows desktop notifications with notify-send (Linux, BSD)
// or osascript (macOS). Where neither is installed it does nothing. The zero
// value is usable; fields override the real system for tests.
type DesktopNotifier struct {
	// LookPath finds programs (default exec.LookPath).
	LookPath func(file string) (string, error)
	// Run runs them (default RunCommand).
	Run CommandRunner
	// GOOS selects the program (default runtime.GOOS).
	GOOS string
	// Logger receives debug messages (default: discarded).
	Logger *slog.Logger
}

// NewDesktopNotifier returns a notifier for this system.
func NewDesktopNotifier(logger *slog.Logger) *DesktopNotifier {
	return &DesktopNotifier{Logger: logger}
}

// Notify shows a notification. It returns nil, after a debug log line,
// where no notification program is installed.
func (n *DesktopNotifier) Notify(ctx context.Context, title, body string) error {
	lookPath, run, goos, log := sys(n.LookPath, n.Run, n.GOOS, n.Logger)
	var program string
	var args []string
	switch goos {
	case "darwin":
		program = "osascript"
		args = []string{"-e", "display notification " + appleScriptString(body) + " with title " + appleScriptString(title)}
	case "windows", "plan9", "js", "wasip1":
		log.DebugContext(ctx, "no desktop notifications on this system", "goos", goos)
		return nil
	default:
		program = "notify-send"
		args = []string{"--app-name=mfad", "--", title, body}
	}
	path, err := lookPath(program)
	if err != nil {
		log.DebugContext(ctx, "no desktop notification program found", "program", program, "err", err)
		return nil
	}
	nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if _, err := run(nctx, path, args); err != nil {
		return fmt.Errorf("desktop notification through %s failed: %w", program, err)
	}
	return nil
}

// DesktopDialog asks for a code with zenity, kdialog or osascript. The code
// is read from the program's standard output, never passed to it. The zero
// value's Program means "auto"; fields override the real system for tests.
type DesktopDialog struct {
	// Program is "auto", "zenity", "kdialog" or "osascript". Auto picks
	// osascript on macOS, else zenity, else kdialog.
	Program string
	// LookPath finds programs (default exec.LookPath).
	LookPath func(file string) (string, error)
	// Run runs them (default RunCommand).
	Run CommandRunner
	// GOOS selects the program for "auto" (default runtime.GOOS).
	GOOS string
	// Logger receives debug messages (default: discarded).
	Logger *slog.Logger
}

// NewDesktopDialog returns a dialog using program ("auto", "zenity",
// "kdialog" or "osascript"). Whether the program is installed is checked
// when a code is asked for.
func NewDesktopDialog(program string, logger *slog.Logger) (*DesktopDialog, error) {
	p := strings.ToLower(strings.TrimSpace(program))
	switch p {
	case DialogAuto, DialogZenity, DialogKDialog, DialogOSAScript:
	default:
		return nil, fmt.Errorf("mfa_dialog %q is unknown: use %s, %s, %s or %s, or leave it empty for no dialog", program, DialogAuto, DialogZenity, DialogKDialog, DialogOSAScript)
	}
	return &DesktopDialog{Program: p, Logger: logger}, nil
}

// Ask shows a password-style entry dialog and returns what was typed,
// trimmed. Cancelling yields an error wrapping ErrDialogCancelled; the
// dialog is closed when ctx is done.
func (d *DesktopDialog) Ask(ctx context.Context, title, text string) (string, error) {
	lookPath, run, goos, log := sys(d.LookPath, d.Run, d.GOOS, d.Logger)
	candidates := []string{d.Program}
	if d.Program == "" || d.Program == DialogAuto {
		switch goos {
		case "darwin":
			candidates = []string{DialogOSAScript}
		default:
			candidates = []string{DialogZenity, DialogKDialog}
		}
	}
	var program, path string
	for _, c := range candidates {
		if p, err := lookPath(c); err == nil {
			program, path = c, p
			break
		}
	}
	if path == "" {
		return "", fmt.Errorf("no dialog program found (looked for %s on PATH): install one, or set mfa_dialog to one that is installed, or to \"\" to use `mfad unlock` only", strings.Join(candidates, ", "))
	}

	var args []string
	switch program {
	case DialogZenity:
		args = []string{"--entry", "--hide-text", "--title=" + title, "--text=" + pangoEscape(text)}
	case DialogKDialog:
		args = []string{"--title", title, "--password", text}
	case DialogOSAScript:
		args = []string{"-e", "text returned of (display dialog " + appleScriptString(text) +
			" with title " + appleScriptString(title) + ` default answer "" with hidden answer)`}
	default:
		return "", fmt.Errorf("mfa_dialog %q is unknown: use %s, %s, %s or %s", program, DialogAuto, DialogZenity, DialogKDialog, DialogOSAScript)
	}
	log.DebugContext(ctx, "asking for an MFA code", "program", program)
	out, err := run(ctx, path, args)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("the %s dialog was closed unanswered: %w", program, ctx.Err())
		}
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) && ec.ExitCode() == 1 {
			return "", fmt.Errorf("the %s %w", program, ErrDialogCancelled)
		}
		return "", fmt.Errorf("the %s dialog failed: %w", program, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sys fills in the real system where fields were left empty.
func sys(lookPath func(string) (string, error), run CommandRunner, goos string, log *slog.Logger) (func(string) (string, error), CommandRunner, string, *slog.Logger) {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if run == nil {
		run = RunCommand
	}
	if goos == "" {
		goos = runtime.GOOS
	}
	return lookPath, run, goos, orDiscard(log)
}

// appleScriptString quotes s as an AppleScript string literal.
func appleScriptString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pangoEscape escapes s for zenity's --text, which is Pango markup.
func pangoEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
