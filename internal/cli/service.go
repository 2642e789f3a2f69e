package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/service"
	"github.com/c0950fac/mfad/ipc"
)

// DefaultServicePort is the endpoint port `mfad service install` fixes when
// neither --port nor the configuration names one: the variables written for
// login sessions must name a port that stays the same across restarts.
const DefaultServicePort = 58321

// serviceSystem is what `mfad service` needs from the machine. Tests replace
// every part, so that nothing is installed or run for real.
type serviceSystem struct {
	// goos selects systemd (linux) or launchd (darwin).
	goos string
	// uid is the user's id, for launchd's gui/UID domain.
	uid int
	// executable returns the running mfad binary's path.
	executable func() (string, error)
	// run runs a service manager command and returns its combined output.
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// portFree reports, with an error, when 127.0.0.1:port cannot be bound.
	portFree func(port int) error
	// sleep waits while the service starts.
	sleep func(ctx context.Context, d time.Duration) error
}

// realServiceSystem is the running machine.
func realServiceSystem() serviceSystem {
	return serviceSystem{
		goos:       runtime.GOOS,
		uid:        os.Getuid(),
		executable: os.Executable,
		run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).CombinedOutput()
		},
		portFree: func(port int) error {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return err
			}
			return ln.Close()
		},
		sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
}

func newServiceCmd(app *App) *cobra.Command {
	return newServiceCmdWith(app, realServiceSystem())
}

// newServiceCmdWith builds `mfad service` on sys.
func newServiceCmdWith(app *App, sys serviceSystem) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the daemon as a login service (systemd user unit, launchd agent)",
		Long: `Install the daemon as a per-user service that starts at login and restarts when it
fails: a systemd user unit on Linux, a launchd agent on macOS. Installing also points
every AWS SDK and the AWS CLI in your login sessions at the daemon: it fixes the endpoint
port (config key listen), and sets AWS_CONTAINER_CREDENTIALS_FULL_URI for one profile and
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to the daemon's token file (environment.d on
Linux, launchctl setenv on macOS). See docs/desktop.md.`,
	}
	cmd.AddCommand(newServiceInstallCmd(app, sys), newServiceUninstallCmd(app, sys), newServiceStatusCmd(app, sys))
	return cmd
}

func newServiceInstallCmd(app *App, sys serviceSystem) *cobra.Command {
	var profile string
	var port int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "install [PROFILE | --profile P] [--port N] [--dry-run]",
		Short: "Install and start the daemon as a login service",
		Long: `Install and start the daemon as a login service, and point login sessions at it.

PROFILE (or --profile) is the profile login sessions get (default $MFAD_PROFILE, else the
only one, else default); other profiles stay available through ` + "`mfad env` and `mfad exec`" + `.
--port fixes the endpoint's port (default: the port in listen when it is not 0, else
` + strconv.Itoa(DefaultServicePort) + `), written as listen: 127.0.0.1:PORT into the configuration file.
Installing again replaces the files and restarts the service.`,
		Example: `  mfad service install work
  mfad service install --profile work --port 58400 --dry-run`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			return app.serviceInstall(cmd.Context(), cmd.OutOrStdout(), sys, serviceInstallOptions{
				profile: given, port: port, portSet: cmd.Flags().Changed("port"), dryRun: dryRun,
			})
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "the profile login sessions get (default $MFAD_PROFILE, else the only one, else default)")
	cmd.Flags().IntVar(&port, "port", 0, fmt.Sprintf("the endpoint's fixed port (default: the configured one, else %d)", DefaultServicePort))
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the files and commands without writing or running anything")
	return cmd
}

func newServiceUninstallCmd(app *App, sys serviceSystem) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "uninstall [--dry-run]",
		Short: "Stop the service and remove what `mfad service install` added",
		Long: `Stop and disable the service, and remove its unit or agents and the variables it set for
login sessions. Sessions stay cached in the keystore. The listen setting stays in the
configuration file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.serviceUninstall(cmd.Context(), cmd.OutOrStdout(), sys, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the commands and files without running or removing anything")
	return cmd
}

func newServiceStatusCmd(app *App, sys serviceSystem) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what is installed and whether the daemon runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.serviceStatus(cmd.Context(), cmd.OutOrStdout(), sys)
		},
	}
}

// serviceLayout returns where the service's files go for this user.
func (a *App) serviceLayout(sys serviceSystem) (service.Layout, error) {
	return service.LayoutFor(sys.goos, homeDir(a), a.getenv("XDG_CONFIG_HOME"))
}

// serviceInstallOptions are the flags of `mfad service install`.
type serviceInstallOptions struct {
	profile string
	port    int
	portSet bool
	dryRun  bool
}

func (a *App) serviceInstall(ctx context.Context, out io.Writer, sys serviceSystem, o serviceInstallOptions) error {
	layout, err := a.serviceLayout(sys)
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	name, err := a.pickProfile(cfg, o.profile)
	if err != nil {
		return fmt.Errorf("%w (the service points login sessions at one profile: name it, e.g. `mfad service install PROFILE`)", err)
	}
	port, err := servicePort(cfg.Listen, o.port, o.portSet)
	if err != nil {
		return err
	}
	exe, err := serviceExecutable(sys)
	if err != nil {
		return err
	}
	if cfg.Path == "" {
		return errors.New("mfad has no configuration file path to record the endpoint port in: set HOME or MFAD_CONFIG")
	}
	spec := service.Spec{Layout: layout, UID: sys.uid, Executable: exe, Profile: name,
		Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ConfigFile: cfg.Path}
	// MFAD_LISTEN in this shell does not reach the service: the file must
	// say it.
	spec.SetListen = cfg.Listen != spec.Listen || a.getenv("MFAD_LISTEN") != ""

	runDir, pinRunDir, err := a.serviceRuntimeDir(sys)
	if err != nil {
		return err
	}
	if path := a.absEnv("PATH"); path != "" {
		spec.DaemonEnv = append(spec.DaemonEnv, service.EnvVar{Key: "PATH", Value: path})
	}
	named := a.configFile != "" || a.getenv("MFAD_CONFIG") != ""
	if named {
		abs, err := filepath.Abs(cfg.Path)
		if err != nil {
			return fmt.Errorf("resolve the configuration file path %s: %w", cfg.Path, err)
		}
		spec.ConfigFile = abs
		spec.DaemonEnv = append(spec.DaemonEnv, service.EnvVar{Key: "MFAD_CONFIG", Value: abs})
	}
	if pinRunDir {
		spec.DaemonEnv = append(spec.DaemonEnv, service.EnvVar{Key: "MFAD_RUNTIME_DIR", Value: runDir})
	}
	prof := cfg.Profiles[name]
	spec.ClientEnv = []service.EnvVar{
		{Key: "AWS_CONTAINER_CREDENTIALS_FULL_URI", Value: "http://" + spec.Listen + daemon.CredentialsPath + url.PathEscape(name)},
		{Key: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", Value: filepath.Join(runDir, daemon.TokenFile)},
	}
	// A region set somewhere (mfad's file, the AWS config, the environment)
	// goes to login sessions, whatever its value; mfad's fallback region
	// does not override the one clients find in ~/.aws/config.
	if prof != nil && prof.Region != "" && !prof.RegionIsDefault {
		spec.ClientEnv = append(spec.ClientEnv, service.EnvVar{Key: "AWS_REGION", Value: prof.Region}, service.EnvVar{Key: "AWS_DEFAULT_REGION", Value: prof.Region})
	}
	// The CLI in login sessions must find the daemon the service runs.
	for _, v := range spec.DaemonEnv {
		if v.Key == "MFAD_CONFIG" || v.Key == "MFAD_RUNTIME_DIR" {
			spec.ClientEnv = append(spec.ClientEnv, v)
		}
	}
	plan, err := service.NewPlan(spec)
	if err != nil {
		return err
	}
	if o.dryRun {
		plan.Print(out)
		return nil
	}

	// Refuse to start a second daemon next to one run by hand: the service
	// would fail on the control socket and restart in a loop.
	running, runErr := a.runningDaemon(ctx)
	installed := service.Exists(layout.Main())
	if runErr == nil && !installed {
		return fmt.Errorf("an mfad daemon is already running (pid %d, endpoint %s), not as a service: stop it (Ctrl-C in its terminal, or kill %d), then run `mfad service install` again", running.PID, running.Endpoint, running.PID)
	}
	if spec.SetListen && !(runErr == nil && endpointPort(running.Endpoint) == port) {
		if err := sys.portFree(port); err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is in use by another program (%w): choose another with --port", port, err)
		}
	}
	if err := service.Apply(ctx, plan, service.RunnerFunc(sys.run), out); err != nil {
		return err
	}

	// The service starts in the background: wait a little for it to answer.
	var st ipc.StatusReply
	for i := 0; i < 20; i++ {
		st, runErr = a.runningDaemon(ctx)
		if runErr == nil && endpointPort(st.Endpoint) == port {
			break
		}
		if err := sys.sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	if runErr == nil && endpointPort(st.Endpoint) == port {
		fmt.Fprintf(out, "The daemon runs (pid %d) and serves %s.\n", st.PID, st.Endpoint)
	} else {
		fmt.Fprintf(out, "The daemon does not answer yet: check `mfad service status` and %s.\n", layout.LogHint())
	}
	fmt.Fprintf(out, "Apps and shells started after your next login get:\n")
	for _, v := range spec.ClientEnv {
		fmt.Fprintf(out, "  %s=%s\n", v.Key, v.Value)
	}
	fmt.Fprintf(out, "In a shell open now: eval \"$(mfad env --profile %s)\". Unlock with `mfad unlock %s`.\n", name, prof.KeyProfile())
	if runErr == nil && st.KeystoreLocked {
		fmt.Fprintf(out, "The daemon waits for the passphrase of the keystore file %s: `mfad unlock` asks for it (see docs/desktop.md for a systemd credential instead).\n", st.KeystoreFile)
	}
	return nil
}

// servicePort picks the endpoint port: --port, else the configured one,
// else DefaultServicePort.
func servicePort(listen string, flag int, flagSet bool) (int, error) {
	if flagSet {
		if flag < 1 || flag > 65535 {
			return 0, fmt.Errorf("--port %d is not a port: use 1 to 65535", flag)
		}
		return flag, nil
	}
	if _, p, err := net.SplitHostPort(listen); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			return n, nil
		}
	}
	return DefaultServicePort, nil
}

// serviceExecutable is the absolute path of the running mfad binary. One
// built by `go run` lives in a temporary directory that goes away.
func serviceExecutable(sys serviceSystem) (string, error) {
	exe, err := sys.executable()
	if err != nil {
		return "", fmt.Errorf("find the mfad binary: %w", err)
	}
	if !filepath.IsAbs(exe) {
		return "", fmt.Errorf("the mfad binary's path %q is not absolute: run mfad by its full path", exe)
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "", fmt.Errorf("this mfad binary (%s) was built by `go run` and will be deleted: install mfad (go install github.com/c0950fac/mfad/cmd/mfad@latest) and run `mfad service install` from the installed binary", exe)
	}
	if strings.ContainsAny(exe, "\n\r\x00") {
		return "", fmt.Errorf("the mfad binary's path %q contains a line break: move mfad to a plain path", exe)
	}
	return exe, nil
}

// serviceRuntimeDir is the runtime directory the service's daemon will use,
// and whether the service must set MFAD_RUNTIME_DIR to make it so.
func (a *App) serviceRuntimeDir(sys serviceSystem) (string, bool, error) {
	if d := a.getenv("MFAD_RUNTIME_DIR"); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", false, fmt.Errorf("MFAD_RUNTIME_DIR=%s: %w", d, err)
		}
		return abs, true, nil
	}
	if sys.goos == "linux" {
		// The systemd user manager sets XDG_RUNTIME_DIR for its services to
		// the directory login sessions get.
		x := a.getenv("XDG_RUNTIME_DIR")
		if !filepath.IsAbs(x) {
			return "", false, errors.New("XDG_RUNTIME_DIR is not set, so there is no systemd user session to install the service in: log in to a desktop or through ssh with systemd-logind, or set MFAD_RUNTIME_DIR")
		}
		return filepath.Join(x, "mfad"), false, nil
	}
	// launchd agents do not get this shell's TMPDIR: pin the directory.
	d, err := a.runtimeDir()
	if err != nil {
		return "", false, err
	}
	return d, true, nil
}

// absEnv returns a PATH-like variable with only its absolute entries, each
// once.
func (a *App) absEnv(key string) string {
	var keep []string
	seen := map[string]bool{}
	for _, d := range filepath.SplitList(a.getenv(key)) {
		if filepath.IsAbs(d) && !strings.ContainsAny(d, "\n\r\x00") && !seen[d] {
			seen[d] = true
			keep = append(keep, d)
		}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// runningDaemon asks a running daemon for its status.
func (a *App) runningDaemon(ctx context.Context) (ipc.StatusReply, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return ask(cctx, a, (*ipc.Client).Status, ipc.StatusRequest{})
}

// endpointPort is the port of an endpoint URL (0 when there is none).
func endpointPort(endpoint string) int {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Port())
	return n
}

func (a *App) serviceUninstall(ctx context.Context, out io.Writer, sys serviceSystem, dryRun bool) error {
	layout, err := a.serviceLayout(sys)
	if err != nil {
		return err
	}
	installed, err := service.Uninstall(ctx, layout, sys.uid, service.RunnerFunc(sys.run), out, dryRun)
	switch {
	case err != nil:
		return err
	case !installed:
		fmt.Fprintln(out, "mfad is not installed as a service.")
	case !dryRun:
		fmt.Fprintln(out, "The endpoint port stays fixed by listen in the configuration file; set it to 127.0.0.1:0 for a random port. Login sessions lose the variables at the next login.")
	}
	return nil
}

func (a *App) serviceStatus(ctx context.Context, out io.Writer, sys serviceSystem) error {
	files, err := a.serviceLayout(sys)
	if err != nil {
		return err
	}
	installed := func(p string) string {
		if service.Exists(p) {
			return p
		}
		return p + " (not installed)"
	}
	switch sys.goos {
	case "linux":
		fmt.Fprintf(out, "unit:         %s\n", installed(files.Unit))
		fmt.Fprintf(out, "environment:  %s\n", installed(files.EnvFile))
		if b, err := os.ReadFile(files.EnvFile); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					fmt.Fprintf(out, "              %s\n", line)
				}
			}
		}
		enabled, _ := sys.run(ctx, "systemctl", "--user", "is-enabled", service.SystemdUnitName)
		active, _ := sys.run(ctx, "systemctl", "--user", "is-active", service.SystemdUnitName)
		fmt.Fprintf(out, "enabled:      %s\n", firstLine(enabled, "unknown"))
		fmt.Fprintf(out, "active:       %s\n", firstLine(active, "unknown"))
	case "darwin":
		domain := "gui/" + strconv.Itoa(sys.uid)
		fmt.Fprintf(out, "agent:        %s\n", installed(files.Plist))
		fmt.Fprintf(out, "environment:  %s\n", installed(files.EnvPlist))
		printed, err := sys.run(ctx, "launchctl", "print", domain+"/"+service.LaunchdLabel)
		state := "not loaded"
		if err == nil {
			state = "loaded"
			for _, line := range strings.Split(string(printed), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok && (k == "state" || k == "pid") {
					state += ", " + k + " " + v
				}
			}
		}
		fmt.Fprintf(out, "launchd:      %s\n", state)
		for _, v := range service.ClientVars()[:2] {
			val, err := sys.run(ctx, "launchctl", "getenv", v)
			if err == nil && len(bytes.TrimSpace(val)) > 0 {
				fmt.Fprintf(out, "              %s=%s\n", v, strings.TrimSpace(string(val)))
			}
		}
		fmt.Fprintf(out, "log:          %s\n", files.LogFile)
	}
	st, err := a.runningDaemon(ctx)
	switch {
	case err == nil:
		fmt.Fprintf(out, "daemon:       running, pid %d, endpoint %s\n", st.PID, st.Endpoint)
	case errors.Is(err, ipc.ErrNoDaemon):
		fmt.Fprintln(out, "daemon:       not running")
	default:
		fmt.Fprintf(out, "daemon:       not answering: %v\n", err)
	}
	return nil
}

// firstLine returns b's first line, or def when it is empty.
func firstLine(b []byte, def string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if s == "" {
		return def
	}
	return s
}
