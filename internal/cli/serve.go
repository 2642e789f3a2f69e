package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/childenv"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/mfacode"
	"github.com/c0950fac/mfad/policy"
	"github.com/c0950fac/mfad/session"
)

// daemonGCPercent is the daemon's GOGC, unless the environment sets one.
const daemonGCPercent = 400

func newDaemonCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the mfad daemon in the foreground (one per user)",
		Long: `Run the daemon in the foreground, for systemd, launchd or a terminal. It restores cached
sessions, listens on the control socket ($XDG_RUNTIME_DIR/mfad/control.sock, or
$MFAD_RUNTIME_DIR) and serves credentials on 127.0.0.1 (config key listen). It stops on
SIGINT or SIGTERM; sessions stay cached in the keystore for the next start.

It follows its configuration file and ~/.aws/config ($AWS_CONFIG_FILE), and reads them again
on SIGHUP: profiles appear, change and disappear without a restart, and those that did not
change keep their sessions. A configuration that does not load is refused — the log and
` + "`mfad status`" + ` say why — and the previous one goes on being served. listen, keyring,
sts_endpoint and lock_on_* take effect at the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Nothing the daemon starts (mfa_process, dialogs) may inherit
			// the keystore passphrase.
			app.holdPassphrase()
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			st, err := app.openDaemonStore(ctx, cfg)
			if err != nil {
				return err
			}
			dir, err := app.runtimeDir()
			if err != nil {
				return err
			}
			audit, err := openAuditLog(app)
			if err != nil {
				return err
			}
			defer audit.Close()
			d, err := app.newDaemon(cfg, st, audit)
			if err != nil {
				return err
			}
			if app.getenv("GOGC") == "" {
				// The daemon holds a few MiB for good (SDK clients,
				// configuration, keystore) and serves requests that each
				// allocate a little: collecting less often halves what the
				// collector costs per request under load. An idle daemon
				// returns what it freed after each burst.
				debug.SetGCPercent(daemonGCPercent)
			}
			// The configuration files are followed: profiles appear, change
			// and disappear without a restart.
			wctx, wcancel := context.WithCancel(ctx)
			log := app.logger()
			files := []string{cfg.Path, configs.DefaultAWSConfigPath(app.getenv, homeDir(app))}
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				watchConfig(wctx, log, files, func() {
					rctx, cancel := context.WithTimeout(wctx, time.Minute)
					defer cancel()
					_ = d.Reload(rctx, app.loadConfig)
				})
			}()
			defer func() { wcancel(); <-watched }()
			return d.Run(ctx, daemon.RunOptions{RuntimeDir: dir, Listen: cfg.Listen, InstanceLock: instanceLock(app, dir)})
		},
	}
}

// newDaemon wires a daemon from the configuration and keystore.
func (app *App) newDaemon(cfg *configs.Config, st keystore.Store, audit io.Writer) (*daemon.Daemon, error) {
	l := app.logger()
	broker := session.NewBroker(session.BrokerOptions{Endpoint: session.ResolveEndpoint(cfg.STSEndpoint, app.getenv), Logger: l})
	return daemon.New(daemon.Options{
		Config: cfg, Store: st, Broker: broker, Logger: l, Audit: audit,
		CodeSource:     codeSource(st, l),
		SuggestMaxAge:  suggestMaxAge,
		Desktop:        daemon.DesktopOptions{SessionID: app.getenv("XDG_SESSION_ID")},
		IAMEndpoint:    firstSet(cfg.IAMEndpoint, app.getenv("AWS_ENDPOINT_URL_IAM"), app.getenv("AWS_ENDPOINT_URL")),
		SigninEndpoint: cfg.SigninEndpoint,
	})
}

// codeSource builds a key profile's MFA code source from its settings:
// prompt sources announce with a desktop notification and, with
// mfa_dialog, ask in a desktop dialog.
func codeSource(st keystore.Store, l *slog.Logger) func(ctx context.Context, p *configs.Profile) (mfacode.Source, error) {
	return func(ctx context.Context, p *configs.Profile) (mfacode.Source, error) {
		c := mfacode.Config{Source: p.MFASource, Process: p.MFAProcess, ProcessTimeout: p.MFAProcessTimeout,
			Dialog: p.MFADialog, Notifier: mfacode.NewDesktopNotifier(l), Logger: l}
		if p.MFASource == configs.MFASourceTOTP {
			b, err := st.Get(ctx, p.Name, keystore.TOTPItem)
			if err != nil {
				if errors.Is(err, keystore.ErrNotFound) {
					return nil, fmt.Errorf("profile %s has mfa_source: totp but no TOTP secret: run `mfad totp set %s`", p.Name, p.Name)
				}
				return nil, err
			}
			c.TOTPSecret = string(b)
		}
		return mfacode.New(c)
	}
}

// suggestMaxAge reads a profile's policy files for an MFA age window.
func suggestMaxAge(p *configs.Profile) (time.Duration, bool) {
	var docs []*policy.Document
	for _, f := range p.PolicyFiles {
		doc, err := policy.ParseFile(f)
		if err != nil {
			continue
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return 0, false
	}
	return policy.SuggestMaxAge(docs)
}

// openAuditLog opens the audit log for appending: $MFAD_AUDIT_LOG, else
// $XDG_STATE_HOME/mfad/audit.log (~/.local/state/mfad/audit.log). It is
// rotated to audit.log.1 past audit.MaxSize.
func openAuditLog(app *App) (*audit.File, error) {
	return audit.OpenFile(auditPath(app), audit.MaxSize)
}

func auditPath(app *App) string {
	if p := app.getenv("MFAD_AUDIT_LOG"); p != "" {
		return p
	}
	base := app.getenv("XDG_STATE_HOME")
	if base == "" {
		base = filepath.Join(homeDir(app), ".local", "state")
	}
	return filepath.Join(base, "mfad", "audit.log")
}

// instanceLock is the lock file a daemon serving runtime directory dir
// holds, outside it: $XDG_STATE_HOME/mfad/daemon-HASH.lock
// (~/.local/state/mfad), HASH naming the directory.
func instanceLock(app *App, dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	base := app.getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(homeDir(app), ".local", "state")
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(base, "mfad", "daemon-"+hex.EncodeToString(sum[:8])+".lock")
}

// shadowing lists variables that would take precedence over the container
// credentials endpoint in SDKs' credential chains.
func shadowing() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
	}
}

// envVars are the variables that point a client at the endpoint.
func envVars(r ipc.EnvReply) [][2]string {
	v := [][2]string{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", r.URL},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN", r.Token},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", r.TokenFile},
	}
	if r.Region != "" {
		v = append(v, [2]string{"AWS_REGION", r.Region}, [2]string{"AWS_DEFAULT_REGION", r.Region})
	}
	return v
}

func newEnvCmd(app *App) *cobra.Command {
	var profile, format string
	var pid int
	cmd := &cobra.Command{
		Use:   "env [PROFILE | --profile P] [--format sh|fish|powershell|json]",
		Short: "Print the variables that point SDKs and the AWS CLI at the daemon",
		Long: `Print the variables that make every AWS SDK and the AWS CLI fetch a profile's credentials
from the daemon (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN and
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, AWS_REGION), and unset those that would take
precedence (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, ...).
Each call issues a token for that profile, which ends when the process that started mfad env
exits — the shell of eval "$(mfad env)" — or with --pid PID when process PID exits; --pid 0
keeps it until it is revoked. List and revoke tokens with ` + "`mfad tokens`" + `.`,
		Example: `  eval "$(mfad env work)"          # bash, zsh
  mfad env work --format fish | source
  mfad env --profile work --format powershell | Invoke-Expression`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			_, name, err := app.configAndProfile(given)
			if err != nil {
				return err
			}
			holder := os.Getppid()
			if cmd.Flags().Changed("pid") {
				if pid < 0 {
					return fmt.Errorf("--pid %d: give a process id, or 0 for a token that lasts until revoked", pid)
				}
				holder = pid
			}
			label := fmt.Sprintf("mfad env (pid %d)", holder)
			if holder == 0 {
				label = "mfad env"
			}
			r, err := ask(ctx, app, (*ipc.Client).Env, ipc.EnvRequest{Profile: name, Label: label, WatchPID: holder})
			if err != nil {
				return err
			}
			return writeEnv(cmd.OutOrStdout(), format, r)
		},
	}
	addProfileFlag(cmd, &profile, profileDefaults)
	cmd.Flags().StringVar(&format, "format", "sh", "sh (bash, zsh), fish, powershell or json")
	cmd.Flags().IntVar(&pid, "pid", 0, "the token ends when this process exits (default: the parent process; 0 = when revoked)")
	return cmd
}

func writeEnv(w io.Writer, format string, r ipc.EnvReply) error {
	vars := envVars(r)
	switch format {
	case "sh", "bash", "zsh":
		fmt.Fprintf(w, "unset %s;\n", strings.Join(shadowing(), " "))
		for _, v := range vars {
			fmt.Fprintf(w, "export %s=%s;\n", v[0], shQuote(v[1]))
		}
	case "fish":
		for _, s := range shadowing() {
			fmt.Fprintf(w, "set -e %s;\n", s)
		}
		for _, v := range vars {
			fmt.Fprintf(w, "set -gx %s %s;\n", v[0], shQuote(v[1]))
		}
	case "powershell", "pwsh":
		for _, s := range shadowing() {
			fmt.Fprintf(w, "Remove-Item Env:%s -ErrorAction SilentlyContinue\n", s)
		}
		for _, v := range vars {
			fmt.Fprintf(w, "$Env:%s = '%s'\n", v[0], strings.ReplaceAll(v[1], "'", "''"))
		}
	case "json":
		m := map[string]string{}
		for _, v := range vars {
			m[v[0]] = v[1]
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	default:
		return fmt.Errorf("unknown --format %q: use sh, fish, powershell or json", format)
	}
	return nil
}

// shQuote quotes s for POSIX shells and fish.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// childEnv is base without the shadowing variables and mfad's secrets,
// plus vars.
func childEnv(base []string, vars [][2]string) []string {
	base = childenv.Scrub(base)
	drop := map[string]bool{}
	for _, s := range shadowing() {
		drop[s] = true
	}
	for _, v := range vars {
		drop[v[0]] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		out = append(out, v[0]+"="+v[1])
	}
	return out
}

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
			fmt.Fprintln(h.app.Stderr, "mfad exec: lost the daemon; the command's credentials will not be renewed")
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

func newCredentialProcessCmd(app *App) *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "credential-process [PROFILE | --profile P]",
		Short: "Print a profile's credentials as credential_process JSON",
		Long: `Print the profile's current credentials in the credential_process format (Version 1), for
tools configured with credential_process in ~/.aws/config:

  [profile work-mfa]
  credential_process = mfad credential-process work

The daemon must be running and the profile unlocked; mfad never waits for a code here.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			_, name, err := app.configAndProfile(given)
			if err != nil {
				return err
			}
			r, err := ask(ctx, app, (*ipc.Client).Credentials, ipc.CredentialsRequest{Profile: name})
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
		},
	}
	addProfileFlag(cmd, &profile, profileDefaults)
	return cmd
}

func newTokensCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "List and revoke the endpoint tokens the daemon has handed out",
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List endpoint tokens (never their values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := ask(cmd.Context(), app, (*ipc.Client).Tokens, ipc.TokensRequest{})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			sort.Slice(r.Tokens, func(i, j int) bool { return r.Tokens[i].Created.Before(r.Tokens[j].Created) })
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tPROFILE\tCREATED\tENDS WITH\tLABEL")
			for _, t := range r.Tokens {
				ends := "-"
				switch {
				case t.Stale:
					ends = fmt.Sprintf("pid %d (gone: stale)", t.WatchPID)
				case t.WatchPID > 0:
					ends = fmt.Sprintf("pid %d", t.WatchPID)
				case t.Kind == "exec":
					ends = "its command"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, dash(t.Profile), fmtTime(t.Created), ends, t.Label)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var stale bool
	revoke := &cobra.Command{
		Use:   "revoke ID... | --stale",
		Short: "Revoke endpoint tokens at once: by id, or every stale one",
		Long: `Revoke the tokens named by id (from ` + "`mfad tokens list`" + `), or with --stale every token
whose process is gone (a shell that exited while the daemon could not watch it).`,
		Example: `  mfad tokens revoke 3f9a0c1d2b4e5f60 77aa01b2c3d4e5f6
  mfad tokens revoke --stale`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if stale == (len(args) > 0) {
				return errors.New("give token ids (see `mfad tokens list`) or --stale")
			}
			c, err := app.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			ids := args
			if stale {
				r, err := c.Tokens(ctx, ipc.TokensRequest{})
				if err != nil {
					return err
				}
				for _, t := range r.Tokens {
					if t.Stale {
						ids = append(ids, t.ID)
					}
				}
				if len(ids) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No stale tokens.")
					return nil
				}
			}
			var errs []error
			for _, id := range ids {
				r, err := c.Revoke(ctx, ipc.RevokeRequest{ID: id})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked token %s (%s).\n", r.Revoked.ID, r.Revoked.Kind)
			}
			return errors.Join(errs...)
		},
	}
	revoke.Flags().BoolVar(&stale, "stale", false, "revoke every token whose process is gone")
	cmd.AddCommand(list, revoke)
	return cmd
}

func newTOTPCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "totp",
		Short: "Keep a profile's TOTP secret in the keystore (opt-in, see --help)",
		Long: `With mfa_source: totp, mfad makes MFA codes itself from a TOTP secret kept in the keystore,
so sessions renew with no person involved. This trades the second factor's independence for
convenience: anyone who can read your keystore then holds both factors. Prefer a YubiKey
(mfa_source: process with ykman) or prompt where your organisation expects a real second
factor.`,
	}
	var setProfile, removeProfile string
	set := &cobra.Command{
		Use:   "set PROFILE",
		Short: "Store a TOTP secret (base32 or otpauth:// URI, read from standard input)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(setProfile, args, "mfad totp set PROFILE")
			if err != nil {
				return err
			}
			args = []string{name}
			if err := keystore.ValidateProfileName(args[0]); err != nil {
				return err
			}
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			if f, ok := app.Stdin.(*os.File); ok && isTerminal(f) {
				fmt.Fprint(app.Stderr, "TOTP secret (base32 or otpauth:// URI), then Enter: ")
			}
			raw, err := io.ReadAll(io.LimitReader(app.Stdin, 4096))
			if err != nil {
				return fmt.Errorf("read the TOTP secret: %w", err)
			}
			sec, err := mfacode.ParseSecret(strings.TrimSpace(string(raw)))
			if err != nil {
				return err
			}
			st, err := app.openStore(ctx, cfg)
			if err != nil {
				return err
			}
			if err := st.Set(ctx, args[0], keystore.TOTPItem, []byte(sec.Reveal())); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored the TOTP secret of profile %s in the %s keystore. Set mfa_source: totp for it to take effect.\n", args[0], st.Backend())
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove PROFILE",
		Short: "Remove a profile's TOTP secret",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(removeProfile, args, "mfad totp remove PROFILE")
			if err != nil {
				return err
			}
			args = []string{name}
			_, st, err := app.configAndStore(ctx)
			if err != nil {
				return err
			}
			if err := st.Delete(ctx, args[0], keystore.TOTPItem); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed the TOTP secret of profile %s.\n", args[0])
			return nil
		},
	}
	addProfileFlag(set, &setProfile, "$MFAD_PROFILE")
	addProfileFlag(remove, &removeProfile, "$MFAD_PROFILE")
	cmd.AddCommand(set, remove)
	return cmd
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
