package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/fileutil"
)

// Runner runs service manager commands (systemctl, launchctl).
type Runner interface {
	// Run runs name with args and returns its combined output.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f(ctx, name, args...)
}

// ExecRunner runs commands for real.
var ExecRunner Runner = RunnerFunc(func(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
})

// run runs one command, with a hint when the manager cannot be reached.
func run(ctx context.Context, r Runner, c Command) error {
	out, err := r.Run(ctx, c.Args[0], c.Args[1:]...)
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(string(out))
	if msg != "" {
		msg = ": " + msg
	}
	hint := ""
	switch {
	case errors.Is(err, exec.ErrNotFound):
		hint = fmt.Sprintf("; %s is not installed: `mfad service` needs systemd (Linux) or launchd (macOS)", c.Args[0])
	case c.Args[0] == "systemctl" && strings.Contains(msg, "Failed to connect to bus"):
		hint = "; no systemd user instance runs for you: log in through a desktop or ssh session (or enable lingering with `loginctl enable-linger`)"
	}
	return fmt.Errorf("%s: %w%s%s", c, err, msg, hint)
}

// saved is a file's content before Apply changed it.
type saved struct {
	path    string
	existed bool
	data    []byte
	mode    fs.FileMode
}

func save(path string) (saved, error) {
	s := saved{path: path}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if s.data, err = os.ReadFile(path); err != nil {
		return s, err
	}
	s.existed, s.mode = true, fi.Mode().Perm()
	return s, nil
}

// restore puts the file back as it was.
func (s saved) restore() error {
	if !s.existed {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return fileutil.WriteFileAtomic(s.path, s.data, s.mode)
}

// Apply carries out p: it records listen in the configuration file, writes
// the files and runs the commands, saying each on out. It is all or
// nothing: when a step fails, the service manager is told to forget what
// was started, the files and the configuration file get back the bytes
// they held (or go, when they were not there), and the error says what
// failed and that nothing was left behind.
func Apply(ctx context.Context, p *Plan, r Runner, out io.Writer) error {
	var saves []saved
	paths := make([]string, 0, len(p.Files)+1)
	if p.SetListen {
		paths = append(paths, p.ConfigFile)
	}
	for _, f := range p.Files {
		paths = append(paths, f.Path)
	}
	for _, path := range paths {
		s, err := save(path)
		if err != nil {
			return fmt.Errorf("read %s before changing it: %w", path, err)
		}
		saves = append(saves, s)
	}
	again := false
	for _, s := range saves {
		if s.path == p.Layout.Main() && s.existed {
			again = true
		}
	}
	ran := false
	fail := func(err error) error {
		return rollback(ctx, p, r, out, saves, again, ran, err)
	}
	if p.SetListen {
		if err := configs.SetValue(p.ConfigFile, "listen", p.Listen); err != nil {
			return fail(fmt.Errorf("record the endpoint port: %w", err))
		}
		fmt.Fprintf(out, "Set listen: %s in %s.\n", p.Listen, p.ConfigFile)
	}
	for _, f := range p.Files {
		if err := writeFile(f.Path, f.Content); err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "Wrote %s.\n", f.Path)
	}
	for _, c := range p.Commands {
		ran = true
		if err := run(ctx, r, c); err != nil {
			if c.MayFail {
				continue
			}
			return fail(err)
		}
		fmt.Fprintf(out, "Ran %s.\n", c)
	}
	return nil
}

// rollback undoes a failed Apply and returns cause with what was undone.
func rollback(ctx context.Context, p *Plan, r Runner, out io.Writer, saves []saved, again, ran bool, cause error) error {
	// The manager is told even when ctx was cancelled (an interrupted
	// install): what it was asked to start must not stay.
	ctx = context.WithoutCancel(ctx)
	before, after := p.UndoBeforeFresh, p.UndoAfterFresh
	if again {
		before, after = p.UndoBeforeAgain, p.UndoAfterAgain
	}
	var errs []error
	undo := func(cs []Command) {
		if !ran {
			return
		}
		for _, c := range cs {
			if err := run(ctx, r, c); err != nil {
				if !c.MayFail {
					errs = append(errs, err)
				}
				continue
			}
			fmt.Fprintf(out, "Undid: ran %s.\n", c)
		}
	}
	undo(before)
	for i := len(saves) - 1; i >= 0; i-- {
		s := saves[i]
		if err := s.restore(); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", s.path, err))
			continue
		}
		if s.existed {
			fmt.Fprintf(out, "Undid: restored %s.\n", s.path)
		}
	}
	undo(after)
	if len(errs) > 0 {
		return fmt.Errorf("%w; undoing the install also failed, check `mfad service status`: %w", cause, errors.Join(errs...))
	}
	return fmt.Errorf("%w; nothing was changed: the files and the configuration are as they were", cause)
}

// writeFile writes a unit, plist or environment file, creating its
// directory.
func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return fileutil.WriteFileAtomic(path, []byte(content), 0o644)
}

// Exists reports whether path exists.
func Exists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// Uninstall stops the service and removes its files, saying each step on
// out; with dryRun it only says what it would do. It reports whether
// anything was installed.
func Uninstall(ctx context.Context, l Layout, uid int, r Runner, out io.Writer, dryRun bool) (bool, error) {
	var commands []Command
	switch l.GOOS {
	case "linux":
		if Exists(l.Unit) {
			commands = append(commands, Command{Args: []string{"systemctl", "--user", "disable", "--now", SystemdUnitName}})
		}
	case "darwin":
		domain := "gui/" + strconv.Itoa(uid)
		// An agent that is not loaded cannot be unloaded: not a failure.
		if Exists(l.Plist) {
			commands = append(commands, Command{Args: []string{"launchctl", "bootout", domain + "/" + LaunchdLabel}, MayFail: true})
		}
		if Exists(l.EnvPlist) {
			commands = append(commands, Command{Args: []string{"launchctl", "bootout", domain + "/" + LaunchdEnvLabel}, MayFail: true})
			for _, v := range ClientVars() {
				commands = append(commands, Command{Args: []string{"launchctl", "unsetenv", v}})
			}
		}
	default:
		return false, fmt.Errorf("`mfad service` knows systemd (Linux) and launchd (macOS), not %s", l.GOOS)
	}
	var present []string
	for _, p := range l.Files() {
		if Exists(p) {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		return false, nil
	}
	var last []Command
	if l.GOOS == "linux" {
		last = []Command{{Args: []string{"systemctl", "--user", "daemon-reload"}}}
	}
	if dryRun {
		for _, c := range append(append([]Command{}, commands...), last...) {
			fmt.Fprintf(out, "Would run %s\n", c)
		}
		for _, p := range present {
			fmt.Fprintf(out, "Would remove %s\n", p)
		}
		return true, nil
	}
	var errs []error
	runAll := func(cs []Command) {
		for _, c := range cs {
			if err := run(ctx, r, c); err != nil {
				if !c.MayFail {
					errs = append(errs, err)
				}
				continue
			}
			fmt.Fprintf(out, "Ran %s.\n", c)
		}
	}
	// Stop first, then remove the files, then let the manager forget them.
	runAll(commands)
	for _, p := range present {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		fmt.Fprintf(out, "Removed %s.\n", p)
	}
	runAll(last)
	return true, errors.Join(errs...)
}
