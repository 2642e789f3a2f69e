// Package cli is the mfad command line: cobra commands that read the
// configuration, talk to the keystore for profile management, and to the
// daemon over the control socket for everything else.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

// Version is set at build time with -ldflags "-X github.com/c0950fac/mfad/internal/cli.Version=v1.2.3".
var Version = ""

// App is what the commands need from the process: streams, environment and
// the configuration flag. Tests build one with their own streams.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil = os.Getenv.
	Getenv func(string) string
	// Environ lists the environment for child processes; nil = os.Environ.
	Environ func() []string

	configFile string
	logLevel   string
	// held, when set, is the keystore passphrase taken out of the
	// environment (see holdPassphrase); it is handed out once.
	held *heldPassphrase
}

// heldPassphrase is a passphrase kept in memory only, for one use.
type heldPassphrase struct {
	mu    sync.Mutex
	value []byte
	used  bool
}

func (a *App) getenv(k string) string {
	if a.Getenv != nil {
		return a.Getenv(k)
	}
	return os.Getenv(k)
}

func (a *App) environ() []string {
	if a.Environ != nil {
		return a.Environ()
	}
	return os.Environ()
}

// Main runs mfad with the process's arguments and streams and returns the
// exit status.
func Main() int {
	app := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	root := NewRoot(app)
	return exitStatus(app, root.ExecuteContext(context.Background()))
}

// exitStatus prints err, when there is one to print, and returns the exit
// status it stands for.
func exitStatus(app *App, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(app.Stderr, "mfad:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(app.Stderr, "mfad:", err)
	return 1
}

// exitError carries an exit status through cobra: a child's, or a
// command's own with err to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

// NewRoot returns the mfad command tree.
func NewRoot(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "mfad",
		Short: "MFA-gated AWS credentials for every SDK, the AWS CLI and scripts",
		Long: `mfad keeps your long-term AWS access keys in the OS keyring, turns them and one MFA code
into short-lived STS sessions, and serves those to every AWS SDK and the AWS CLI through a
local container-credentials endpoint. It renews sessions ahead of expiry and asks for a
new MFA code before your organisation's MultiFactorAuthAge window closes.

Start with:  mfad add PROFILE --mfa-serial ARN   then   mfad daemon   and   mfad unlock PROFILE
Try it with no AWS account:  mfad sandbox -- aws sts get-caller-identity`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(app.Stdin)
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	root.PersistentFlags().StringVar(&app.configFile, "config", "", "configuration file (default $MFAD_CONFIG, else $XDG_CONFIG_HOME/mfad/config.yaml)")
	root.PersistentFlags().StringVar(&app.logLevel, "log-level", "", "log level: debug, info, warn or error (default $MFAD_LOG_LEVEL, else info)")
	root.AddCommand(
		newAddCmd(app), newRemoveCmd(app), newListCmd(app), newVersionCmd(app),
		newUnlockCmd(app), newLockCmd(app), newStatusCmd(app),
		newDaemonCmd(app), newEnvCmd(app), newExecCmd(app), newCredentialProcessCmd(app),
		newTokensCmd(app), newTOTPCmd(app), newSandboxCmd(app), newPolicyCmd(),
		newAuditCmd(app), newExportCmd(app), newRotateCmd(app), newLoginCmd(app),
		newServiceCmd(app), newImportCmd(app), newDoctorCmd(app),
	)
	addProfileCompletions(app, root)
	return root
}

// logger returns the logger for commands that log (the daemon, the sandbox).
func (a *App) logger() *slog.Logger {
	lvl := a.logLevel
	if lvl == "" {
		lvl = a.getenv("MFAD_LOG_LEVEL")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(lvl)); err != nil || lvl == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: l}))
}

// loadConfig reads the configuration.
func (a *App) loadConfig() (*configs.Config, error) {
	home, _ := os.UserHomeDir()
	if h := a.getenv("HOME"); h != "" {
		home = h
	}
	return configs.Load(configs.LoadOptions{File: a.configFile, Getenv: a.getenv, HomeDir: home})
}

// openStore opens the configured keystore.
func (a *App) openStore(ctx context.Context, cfg *configs.Config) (keystore.Store, error) {
	file, err := a.keystoreFile(cfg)
	if err != nil {
		return nil, err
	}
	return keystore.Open(ctx, keystore.Options{
		Backend:    cfg.Keyring.Backend,
		File:       file,
		Passphrase: a.passphrase(file),
		Service:    a.getenv("MFAD_KEYRING_SERVICE"),
		Logger:     a.logger(),
	})
}

// openDaemonStore opens the keystore for the daemon. When the encrypted
// file needs a passphrase that neither the environment, a systemd
// credential nor a terminal in the foreground can give, the daemon starts
// anyway with a keystore.Pending that `mfad unlock` opens over the control
// socket.
func (a *App) openDaemonStore(ctx context.Context, cfg *configs.Config) (keystore.Store, error) {
	st, err := a.openStore(ctx, cfg)
	if err == nil || !errors.Is(err, keystore.ErrNoPassphrase) {
		return st, err
	}
	file, ferr := a.keystoreFile(cfg)
	if ferr != nil {
		return nil, ferr
	}
	return keystore.NewPending(file, func(ctx context.Context, passphrase []byte) (keystore.Store, error) {
		given := bytes.Clone(passphrase)
		return keystore.OpenFile(ctx, file, func(context.Context) ([]byte, error) {
			// The file store clears what it is given: hand out a copy
			// each time (a new file asks on its first write).
			return bytes.Clone(given), nil
		})
	}), nil
}

func (a *App) keystoreFile(cfg *configs.Config) (string, error) {
	if cfg.Keyring.File != "" {
		return cfg.Keyring.File, nil
	}
	return keystore.DefaultFilePath()
}

// CredentialPassphrase is the name of the systemd credential that holds the
// keystore file's passphrase ($CREDENTIALS_DIRECTORY/mfad-passphrase, from
// LoadCredentialEncrypted= or LoadCredential= in the service unit).
const CredentialPassphrase = "mfad-passphrase"

// passphrase returns the file store's passphrase source: MFAD_FILE_PASSPHRASE,
// else the systemd credential mfad-passphrase, else a hidden prompt on the
// terminal when mfad runs in its foreground. Without any of them it fails
// with an error wrapping keystore.ErrNoPassphrase.
func (a *App) passphrase(file string) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		if h := a.held; h != nil {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.value != nil {
				// The keystore clears the bytes once it has derived its key.
				p := h.value
				h.value, h.used = nil, true
				return p, nil
			}
			if h.used {
				return nil, fmt.Errorf("the keystore file %s was replaced while the daemon ran, and the daemon no longer holds its passphrase: restart the daemon", file)
			}
		}
		if p := a.getenv(keystore.PassphraseEnv); p != "" {
			return []byte(p), nil
		}
		if dir := a.getenv("CREDENTIALS_DIRECTORY"); dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, CredentialPassphrase))
			switch {
			case err == nil:
				p := bytes.TrimRight(b, "\r\n")
				if len(p) == 0 {
					return nil, fmt.Errorf("the systemd credential %s is empty: encrypt the keystore passphrase into it", CredentialPassphrase)
				}
				return p, nil
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("read the systemd credential %s: %w", CredentialPassphrase, err)
			}
		}
		f, ok := a.Stdin.(*os.File)
		if !ok || !isTerminal(f) || !isForeground(f) {
			return nil, fmt.Errorf("the encrypted keystore %s needs a passphrase: run `mfad unlock` (a daemon waits for it), or set MFAD_FILE_PASSPHRASE, or run mfad from a terminal: %w", file, keystore.ErrNoPassphrase)
		}
		return keystore.PassphrasePrompt(f, a.Stderr)(ctx)
	}
}

// holdPassphrase takes the keystore passphrase out of the process's
// environment, so that no program the daemon starts inherits it, and keeps
// it in memory until the keystore has derived its key from it.
func (a *App) holdPassphrase() {
	h := &heldPassphrase{}
	if p := a.getenv(keystore.PassphraseEnv); p != "" {
		h.value = []byte(p)
	}
	os.Unsetenv(keystore.PassphraseEnv)
	a.held = h
}

// runtimeDir is where the daemon's socket and files live: $MFAD_RUNTIME_DIR,
// else the per-user default.
func (a *App) runtimeDir() (string, error) {
	if d := a.getenv("MFAD_RUNTIME_DIR"); d != "" {
		return d, nil
	}
	return ipc.RuntimeDir(a.getenv)
}

// dial connects to the daemon.
func (a *App) dial(ctx context.Context) (*ipc.Client, error) {
	dir, err := a.runtimeDir()
	if err != nil {
		return nil, err
	}
	return ipc.Dial(ctx, ipc.SocketPath(dir))
}

// ask dials the daemon, makes one call of the control API and hangs up:
// ask(ctx, app, (*ipc.Client).Status, ipc.StatusRequest{}).
func ask[Req, Rep any](ctx context.Context, a *App, method func(*ipc.Client, context.Context, Req) (Rep, error), in Req) (Rep, error) {
	c, err := a.dial(ctx)
	if err != nil {
		var zero Rep
		return zero, err
	}
	defer c.Close()
	return method(c, ctx, in)
}

// configAndProfile loads the configuration and resolves the profile to act
// on (see pickProfile).
func (a *App) configAndProfile(given string) (*configs.Config, string, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, "", err
	}
	name, err := a.pickProfile(cfg, given)
	return cfg, name, err
}

// configAndStore loads the configuration and opens its keystore.
func (a *App) configAndStore(ctx context.Context) (*configs.Config, keystore.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.openStore(ctx, cfg)
	return cfg, st, err
}

// pickProfile resolves the profile to act on: the flag or argument, else
// $MFAD_PROFILE, else the only configured profile, else "default".
func (a *App) pickProfile(cfg *configs.Config, given string) (string, error) {
	if given == "" {
		given = a.getenv("MFAD_PROFILE")
	}
	if given != "" {
		if _, err := cfg.Profile(given); err != nil {
			return "", err
		}
		return given, nil
	}
	names := cfg.ProfileNames()
	switch {
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", errors.New("no profiles are configured: add one with `mfad add PROFILE --mfa-serial ARN`")
	}
	if _, ok := cfg.Profiles["default"]; ok {
		return "default", nil
	}
	return "", fmt.Errorf("several profiles are configured (%s): name one as an argument or with --profile, or set MFAD_PROFILE", strings.Join(names, ", "))
}

// profileArg returns the profile a command was given: its PROFILE argument
// or --profile ("" = neither, for pickProfile's defaults).
func profileArg(flag string, args []string) (string, error) {
	switch {
	case len(args) == 0:
		return flag, nil
	case flag == "" || flag == args[0]:
		return args[0], nil
	}
	return "", fmt.Errorf("two profiles given, %s and --profile %s: give one", args[0], flag)
}

// profileFromArgs is the configuration and the profile a command acts on:
// the one given positionally or with --profile (flag), else the default
// that pickProfile names.
func (a *App) profileFromArgs(flag string, args []string) (*configs.Config, string, error) {
	given, err := profileArg(flag, args)
	if err != nil {
		return nil, "", err
	}
	return a.configAndProfile(given)
}

// namedProfile returns the profile named by the argument, --profile or
// $MFAD_PROFILE, for commands that manage one profile's keystore items and
// so never guess one; usage says how to name it.
func (a *App) namedProfile(flag string, args []string, usage string) (string, error) {
	n, err := profileArg(flag, args)
	if err != nil {
		return "", err
	}
	if n == "" {
		n = a.getenv("MFAD_PROFILE")
	}
	if n == "" {
		return "", fmt.Errorf("name the profile: %s (or --profile PROFILE, or set MFAD_PROFILE)", usage)
	}
	return n, nil
}

// addProfileFlag adds --profile, which every command that acts on a profile
// takes as well as a PROFILE argument.
func addProfileFlag(cmd *cobra.Command, p *string, def string) {
	cmd.Flags().StringVar(p, "profile", "", "the profile, as an alternative to the PROFILE argument (default "+def+")")
}

// profileDefaults describes pickProfile's defaults for --help.
const profileDefaults = "$MFAD_PROFILE, else the only one, else default"

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func homeDir(app *App) string {
	if h := app.getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// confirm asks a yes/no question on the terminal.
func (a *App) confirm(q string) (bool, error) {
	if f, ok := a.Stdin.(*os.File); !ok || !isTerminal(f) {
		return false, errors.New("no terminal to confirm on: use --force")
	}
	fmt.Fprint(a.Stderr, q)
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes", nil
}
