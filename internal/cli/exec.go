package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

func newExecCmd(app *App) *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "exec [PROFILE | --profile P] [-- CMD [ARGS...]]",
		Short: "Run a command, or a shell, with a profile's credentials from the daemon",
		Long: `Run CMD with the variables of ` + "`mfad env`" + `, without those that would shadow them, and
without MFAD_FILE_PASSPHRASE (no program mfad starts gets the keystore's passphrase). The
token CMD gets is valid for this profile only and is revoked when CMD exits. Signals are
passed on to CMD, and mfad exits with CMD's status: 127 when CMD is not found, 126 when
it cannot be run, as shells do.

Without CMD, mfad starts $SHELL (else /bin/sh): a subshell with the profile's credentials,
which ends the token when it exits.

The profile comes before -- (mfad exec work -- aws s3 ls) or from --profile; without --,
the first argument is the profile unless --profile is given (mfad exec work aws s3 ls).

When the profile is locked, mfad unlocks it first: with the profile's mfa_source when it is
process or totp, else by asking for an MFA code on the terminal; with neither it fails before
starting CMD. A daemon waiting for its keystore passphrase gets it first, as with unlock.`,
		Example: `  mfad exec work -- aws s3 ls
  mfad exec work                    # a subshell with work's credentials
  mfad exec --profile work -- terraform apply`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			before, command := splitExecArgs(profile, cmd.ArgsLenAtDash(), args)
			if len(before) > 1 {
				return fmt.Errorf("exec takes one PROFILE before the command, not %q: put the command after --", before)
			}
			given, err := profileArg(profile, before)
			if err != nil {
				return err
			}
			if len(command) == 0 {
				command = []string{userShell(app)}
			}
			args = command
			// A named profile is checked by the daemon, which knows the
			// configuration: exec starts faster without parsing it.
			name := given
			if name == "" {
				name = app.getenv("MFAD_PROFILE")
			}
			if name == "" {
				var err error
				if _, name, err = app.configAndProfile(""); err != nil {
					return err
				}
			}
			c, err := app.dial(ctx)
			if err != nil {
				return err
			}
			req := ipc.EnvRequest{Profile: name, Label: "mfad exec " + filepath.Base(args[0])}
			r, err := c.Exec(ctx, req)
			if errors.Is(err, ipc.CodeLocked) {
				// Locked: ask for a code on a terminal, else fail before
				// starting the command.
				if err = app.unlockOnTerminal(ctx, c, name, err); err == nil {
					r, err = c.Exec(ctx, req)
				}
			}
			if err != nil {
				c.Close()
				if given != "" && profile == "" && errors.Is(err, ipc.CodeUnknownProfile) {
					// `mfad exec aws s3 ls`: the first argument is the profile.
					return fmt.Errorf("%w; the first argument of mfad exec is the profile: mfad exec PROFILE -- CMD, or mfad exec -- CMD for the default profile", err)
				}
				return err
			}
			// The connection stays open while CMD runs: when it closes, the
			// daemon revokes CMD's token. If the daemon restarts meanwhile,
			// the holder reconnects and adopts the token again.
			h := &tokenHolder{app: app, conn: c, token: r.Token, id: r.TokenID}
			go h.hold(ctx)
			defer h.close()
			return runChild(app, args, childEnv(app.environ(), envVars(r)))
		},
	}
	addProfileFlag(cmd, &profile, profileDefaults)
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// splitExecArgs splits exec's arguments into the profile part and the
// command: before -- (dash is cobra's ArgsLenAtDash), else the first
// argument is the profile unless --profile named one.
func splitExecArgs(flag string, dash int, args []string) (before, command []string) {
	switch {
	case dash >= 0:
		return args[:dash], args[dash:]
	case len(args) >= 2 && args[1] == "--":
		// Flags stop at the first argument, so cobra did not see this --.
		return args[:1], args[2:]
	case flag != "" || len(args) == 0:
		return nil, args
	}
	return args[:1], args[1:]
}

// userShell is the shell `mfad exec` starts when no command is given:
// $SHELL, else /bin/sh (%ComSpec% on Windows).
func userShell(app *App) string {
	if sh := app.getenv("SHELL"); sh != "" {
		return sh
	}
	if runtime.GOOS == "windows" {
		if c := app.getenv("ComSpec"); c != "" {
			return c
		}
		return "cmd.exe"
	}
	return "/bin/sh"
}

// unlockOnTerminal unlocks a locked profile before a command runs with its
// credentials: with its configured source when no one needs to type (
// mfa_process, totp), else by asking for a code when a terminal is
// attached; otherwise it returns locked, the daemon's error that says how
// to unlock.
func (a *App) unlockOnTerminal(ctx context.Context, c *ipc.Client, name string, locked error) error {
	if err := a.openDaemonKeystore(ctx, c); err != nil {
		return err
	}
	if _, done, err := a.unlockFromSource(ctx, c, name); err != nil || done {
		return err
	}
	f, ok := a.Stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return locked
	}
	st, err := c.Status(ctx, ipc.StatusRequest{Profile: name})
	if err != nil {
		return err
	}
	code, err := a.readCode(st.Profiles[0].KeyProfile, false)
	if err != nil {
		return err
	}
	_, err = c.Unlock(ctx, ipc.UnlockRequest{Profile: name, Code: code})
	return err
}

// tokenHolder keeps an exec token's control connection open while the
// command runs, and re-attaches the token when the daemon restarts.
type tokenHolder struct {
	app *App
	// token is the exec token's value, id its name.
	token  string
	id     string
	mu     sync.Mutex
	conn   *ipc.Client
	closed bool
	// detached is set while the daemon is gone and the token not adopted.
	detached bool
}

// hold waits on the daemon; when it goes away, it reconnects and adopts the
// token again, for up to two minutes.
func (h *tokenHolder) hold(ctx context.Context) {
	for {
		h.mu.Lock()
		c := h.conn
		h.mu.Unlock()
		_, _ = c.Hold(ctx, ipc.HoldRequest{})
		h.mu.Lock()
		closed := h.closed
		h.detached = !closed
		h.mu.Unlock()
		if closed || ctx.Err() != nil {
			return
		}
		if !h.reattach(ctx) {
			// A command that ended while the daemon was away lost
			// nothing: only a command still running is told.
			if !h.isClosed() && ctx.Err() == nil {
				fmt.Fprintln(h.app.Stderr, "mfad exec: lost the daemon; the command's credentials will not be renewed")
			}
			return
		}
	}
}

func (h *tokenHolder) reattach(ctx context.Context) bool {
	deadline := time.Now().Add(2 * time.Minute)
	wait := 100 * time.Millisecond
	for time.Now().Before(deadline) {
		if h.isClosed() {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		if wait < 2*time.Second {
			wait *= 2
		}
		c, err := h.app.dial(ctx)
		if err != nil {
			continue
		}
		if _, err := c.Adopt(ctx, ipc.AdoptRequest{Token: h.token}); err != nil {
			c.Close()
			var ie *ipc.Error
			if errors.As(err, &ie) {
				return false // the daemon no longer knows the token
			}
			continue
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return false
		}
		h.conn.Close()
		h.conn = c
		h.detached = false
		h.mu.Unlock()
		return true
	}
	return false
}

func (h *tokenHolder) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// close closes the connection, which revokes the token. When the daemon
// restarted and the token has not been adopted again yet, it revokes the
// token explicitly, so that it does not outlive the command.
func (h *tokenHolder) close() {
	h.mu.Lock()
	h.closed = true
	detached := h.detached
	h.conn.Close()
	h.mu.Unlock()
	if !detached {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = ask(ctx, h.app, (*ipc.Client).Revoke, ipc.RevokeRequest{ID: h.id})
}

// runChild runs args with env, passing signals on, and returns an
// exitError with the child's status when it is not 0.
func runChild(app *App, args []string, env []string) error {
	path, err := lookPathIn(args[0], envValue(env, "PATH"))
	if err != nil {
		return &exitError{code: notRunnableStatus(err), err: fmt.Errorf("cannot run %w", err)}
	}
	child := exec.Command(path, args[1:]...)
	child.Args[0] = args[0]
	child.Env = env
	child.Stdin, child.Stdout, child.Stderr = app.Stdin, app.Stdout, app.Stderr
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals()...)
	defer signal.Stop(sigs)
	if err := child.Start(); err != nil {
		return &exitError{code: notRunnableStatus(err), err: fmt.Errorf("cannot run %s: %w", args[0], err)}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = child.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = child.Wait()
	close(done)
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code: 128 + int(ws.Signal())}
		}
		return &exitError{code: ee.ExitCode()}
	}
	return err
}

// envValue returns the value of key in env (KEY=VALUE entries; last wins).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// notRunnableStatus is the exit status shells give a command that could
// not be started: 127 when it was not found, 126 when it was found but is
// not executable.
func notRunnableStatus(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// lookPathIn finds an executable like exec.LookPath, but in the PATH the
// child will have rather than this process's. Like shells, it reports a
// file found but not executable as a permission error (exit status 126),
// and nothing found as exec.ErrNotFound (127).
func lookPathIn(file, path string) (string, error) {
	if strings.ContainsRune(file, os.PathSeparator) || runtime.GOOS == "windows" {
		p, err := exec.LookPath(file)
		if err == nil {
			return p, nil
		}
		fi, serr := os.Stat(file)
		switch {
		case errors.Is(serr, fs.ErrNotExist):
			return "", fmt.Errorf("%s: %w", file, fs.ErrNotExist)
		case serr == nil && (fi.IsDir() || fi.Mode()&0o111 == 0):
			return "", fmt.Errorf("%s: %w", file, fs.ErrPermission)
		}
		return "", err
	}
	found := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if fi.Mode()&0o111 != 0 {
			return p, nil
		}
		if found == "" {
			found = p
		}
	}
	if found != "" {
		return "", fmt.Errorf("%s: %w", found, fs.ErrPermission)
	}
	return "", fmt.Errorf("%s: %w", file, exec.ErrNotFound)
}
