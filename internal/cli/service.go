package cli

import (
	"bytes"
	"context"
	"encoding/xml"
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
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/fileutil"
	"github.com/c0950fac/mfad/ipc"
)

// DefaultServicePort is the endpoint port `mfad service install` fixes when
// neither --port nor the configuration names one: the variables written for
// login sessions must name a port that stays the same across restarts.
const DefaultServicePort = 58321

// Names of what `mfad service` installs.
const (
	systemdUnitName  = "mfad.service"
	environmentDName = "60-mfad.conf"
	launchdLabel     = "dev.mfad.daemon"
	launchdEnvLabel  = "dev.mfad.environment"
)

// serviceVars are the variables the service may give login sessions; on
// uninstall, macOS's launchd forgets each of them.
func serviceVars() []string {
	return []string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "MFAD_RUNTIME_DIR", "MFAD_CONFIG",
	}
}

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

// envVar is one NAME=VALUE pair written into a unit, plist or env file.
type envVar struct{ Key, Value string }

// serviceFiles says where the service's files go for one user.
type serviceFiles struct {
	// Linux: the systemd user unit and the environment.d file.
	unit, envFile string
	// macOS: the daemon agent, the environment agent and the log.
	plist, envPlist, logFile string
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
		Use:   "install [--profile P] [--port N] [--dry-run]",
		Short: "Install and start the daemon as a login service",
		Long: `Install and start the daemon as a login service, and point login sessions at it.

--profile is the profile login sessions get (default $MFAD_PROFILE, else the only one,
else default); other profiles stay available through ` + "`mfad env` and `mfad exec`" + `.
--port fixes the endpoint's port (default: the port in listen when it is not 0, else
` + strconv.Itoa(DefaultServicePort) + `), written as listen: 127.0.0.1:PORT into the configuration file.
Installing again replaces the files and restarts the service.`,
		Example: `  mfad service install --profile work
  mfad service install --profile work --port 58400 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.serviceInstall(cmd.Context(), cmd.OutOrStdout(), sys, serviceInstallOptions{
				profile: profile, port: port, portSet: cmd.Flags().Changed("port"), dryRun: dryRun,
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

// serviceFilesFor returns where the service's files go for this user.
func (a *App) serviceFilesFor(sys serviceSystem) (serviceFiles, error) {
	home := homeDir(a)
	if home == "" {
		return serviceFiles{}, errors.New("no home directory is known: set HOME")
	}
	switch sys.goos {
	case "linux":
		// systemd reads user units and environment.d from $XDG_CONFIG_HOME
		// when it is an absolute path, else from ~/.config.
		base := a.getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(base) {
			base = filepath.Join(home, ".config")
		}
		return serviceFiles{
			unit:    filepath.Join(base, "systemd", "user", systemdUnitName),
			envFile: filepath.Join(base, "environment.d", environmentDName),
		}, nil
	case "darwin":
		agents := filepath.Join(home, "Library", "LaunchAgents")
		return serviceFiles{
			plist:    filepath.Join(agents, launchdLabel+".plist"),
			envPlist: filepath.Join(agents, launchdEnvLabel+".plist"),
			logFile:  filepath.Join(home, "Library", "Logs", "mfad.log"),
		}, nil
	}
	return serviceFiles{}, fmt.Errorf("`mfad service` knows systemd (Linux) and launchd (macOS), not %s: start `mfad daemon` at login with your system's own tool (on Windows, Task Scheduler; see docs/desktop.md)", sys.goos)
}

// serviceInstallOptions are the flags of `mfad service install`.
type serviceInstallOptions struct {
	profile string
	port    int
	portSet bool
	dryRun  bool
}

// servicePlan is everything one install writes and runs.
type servicePlan struct {
	files      serviceFiles
	profile    string
	listen     string
	configFile string
	setListen  bool
	// daemonEnv is the daemon's own environment; clientEnv the variables
	// login sessions get.
	daemonEnv, clientEnv []envVar
	// contents maps each file to write to its text.
	contents map[string]string
	order    []string
	commands [][]string
	// mayFail lists commands whose failure is expected (unloading an agent
	// that is not loaded).
	mayFail map[int]bool
}

func (a *App) serviceInstall(ctx context.Context, out io.Writer, sys serviceSystem, o serviceInstallOptions) error {
	files, err := a.serviceFilesFor(sys)
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	name, err := a.pickProfile(cfg, o.profile)
	if err != nil {
		return fmt.Errorf("%w (the service points login sessions at one profile: choose it with --profile)", err)
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
	p := &servicePlan{files: files, profile: name, listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		configFile: cfg.Path, mayFail: map[int]bool{}}
	// MFAD_LISTEN in this shell does not reach the service: the file must
	// say it.
	p.setListen = cfg.Listen != p.listen || a.getenv("MFAD_LISTEN") != ""

	runDir, pinRunDir, err := a.serviceRuntimeDir(sys)
	if err != nil {
		return err
	}
	if path := a.absEnv("PATH"); path != "" {
		p.daemonEnv = append(p.daemonEnv, envVar{"PATH", path})
	}
	named := a.configFile != "" || a.getenv("MFAD_CONFIG") != ""
	if named {
		abs, err := filepath.Abs(cfg.Path)
		if err != nil {
			return fmt.Errorf("resolve the configuration file path %s: %w", cfg.Path, err)
		}
		p.configFile = abs
		p.daemonEnv = append(p.daemonEnv, envVar{"MFAD_CONFIG", abs})
	}
	if pinRunDir {
		p.daemonEnv = append(p.daemonEnv, envVar{"MFAD_RUNTIME_DIR", runDir})
	}
	prof := cfg.Profiles[name]
	p.clientEnv = []envVar{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://" + p.listen + daemon.CredentialsPath + url.PathEscape(name)},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", filepath.Join(runDir, daemon.TokenFile)},
	}
	// A region set somewhere (mfad's file, the AWS config, the environment)
	// goes to login sessions; mfad's fallback region does not override the
	// one clients find in ~/.aws/config.
	if prof != nil && prof.Region != "" && prof.Region != configs.DefaultRegion {
		p.clientEnv = append(p.clientEnv, envVar{"AWS_REGION", prof.Region}, envVar{"AWS_DEFAULT_REGION", prof.Region})
	}
	// The CLI in login sessions must find the daemon the service runs.
	for _, v := range p.daemonEnv {
		if v.Key == "MFAD_CONFIG" || v.Key == "MFAD_RUNTIME_DIR" {
			p.clientEnv = append(p.clientEnv, v)
		}
	}
	if err := p.render(sys, exe); err != nil {
		return err
	}

	if o.dryRun {
		p.print(out)
		return nil
	}

	// Refuse to start a second daemon next to one run by hand: the service
	// would fail on the control socket and restart in a loop.
	running, runErr := a.runningDaemon(ctx)
	installed := fileExists(files.unit) || fileExists(files.plist)
	if runErr == nil && !installed {
		return fmt.Errorf("an mfad daemon is already running (pid %d, endpoint %s), not as a service: stop it (Ctrl-C in its terminal, or kill %d), then run `mfad service install` again", running.PID, running.Endpoint, running.PID)
	}
	if p.setListen && !(runErr == nil && endpointPort(running.Endpoint) == port) {
		if err := sys.portFree(port); err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is in use by another program (%w): choose another with --port", port, err)
		}
	}

	if p.setListen {
		if err := configs.SetValue(p.configFile, "listen", p.listen); err != nil {
			return fmt.Errorf("record the endpoint port: %w", err)
		}
		fmt.Fprintf(out, "Set listen: %s in %s.\n", p.listen, p.configFile)
	}
	for _, f := range p.order {
		if err := writeServiceFile(f, p.contents[f]); err != nil {
			return err
		}
		fmt.Fprintf(out, "Wrote %s.\n", f)
	}
	for i, c := range p.commands {
		if err := runService(ctx, sys, c); err != nil {
			if p.mayFail[i] {
				continue
			}
			return err
		}
		fmt.Fprintf(out, "Ran %s.\n", strings.Join(c, " "))
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
		fmt.Fprintf(out, "The daemon does not answer yet: check `mfad service status` and %s.\n", serviceLogHint(sys.goos, files))
	}
	fmt.Fprintf(out, "Apps and shells started after your next login get:\n")
	for _, v := range p.clientEnv {
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

// render fills in p's files and commands for sys.
func (p *servicePlan) render(sys serviceSystem, exe string) error {
	p.contents = map[string]string{}
	add := func(path, tmpl string, data any) error {
		text, err := renderServiceTemplate(tmpl, data)
		if err != nil {
			return err
		}
		p.contents[path] = text
		p.order = append(p.order, path)
		return nil
	}
	switch sys.goos {
	case "linux":
		for _, v := range p.clientEnv {
			if strings.ContainsAny(v.Value, "$\\\"'`\n\r\x00") {
				return fmt.Errorf("%s=%s cannot be written to environment.d: its value holds quotes, $ or a backslash; use a plainer path", v.Key, v.Value)
			}
		}
		if err := add(p.files.unit, configs.SystemdUnitTemplate, map[string]any{"Executable": exe, "Env": p.daemonEnv}); err != nil {
			return err
		}
		if err := add(p.files.envFile, configs.SystemdEnvironmentTemplate, map[string]any{"Profile": p.profile, "Env": p.clientEnv}); err != nil {
			return err
		}
		p.commands = [][]string{
			{"systemctl", "--user", "daemon-reload"},
			{"systemctl", "--user", "enable", systemdUnitName},
			// restart starts a stopped service and applies a new unit to a
			// running one.
			{"systemctl", "--user", "restart", systemdUnitName},
		}
	case "darwin":
		domain := "gui/" + strconv.Itoa(sys.uid)
		var script []string
		for _, v := range p.clientEnv {
			script = append(script, "/bin/launchctl setenv "+v.Key+" "+shQuote(v.Value))
		}
		if err := add(p.files.plist, configs.LaunchdDaemonTemplate, map[string]any{
			"Label": launchdLabel, "Executable": exe, "Env": p.daemonEnv, "LogFile": p.files.logFile,
		}); err != nil {
			return err
		}
		if err := add(p.files.envPlist, configs.LaunchdEnvironmentTemplate, map[string]any{
			"Label": launchdEnvLabel, "Profile": p.profile, "Script": strings.Join(script, " && "),
		}); err != nil {
			return err
		}
		// bootstrap refuses an agent that is loaded: unload first (which
		// fails, harmlessly, when it is not).
		p.mayFail[0], p.mayFail[1] = true, true
		p.commands = [][]string{
			{"launchctl", "bootout", domain + "/" + launchdEnvLabel},
			{"launchctl", "bootout", domain + "/" + launchdLabel},
		}
		for _, v := range p.clientEnv {
			p.commands = append(p.commands, []string{"launchctl", "setenv", v.Key, v.Value})
		}
		p.commands = append(p.commands,
			[]string{"launchctl", "bootstrap", domain, p.files.envPlist},
			[]string{"launchctl", "bootstrap", domain, p.files.plist},
		)
	}
	return nil
}

// print shows a dry run.
func (p *servicePlan) print(w io.Writer) {
	if p.setListen {
		fmt.Fprintf(w, "Would set listen: %s in %s.\n", p.listen, p.configFile)
	}
	for _, f := range p.order {
		fmt.Fprintf(w, "Would write %s:\n%s\n", f, p.contents[f])
	}
	for _, c := range p.commands {
		fmt.Fprintf(w, "Would run %s\n", strings.Join(c, " "))
	}
}

// renderServiceTemplate renders one of configs' service templates.
func renderServiceTemplate(name string, data any) (string, error) {
	text, err := configs.ServiceTemplate(name)
	if err != nil {
		return "", err
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"execQuote": systemdExecQuote,
		"envQuote":  systemdEnvQuote,
		"envdQuote": environmentDQuote,
		"xml":       xmlEscape,
	}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	return b.String(), nil
}

// systemdSafe reports whether s needs no quoting in a unit file.
func systemdSafe(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+@:,=", r))
	}) < 0
}

// systemdExecQuote quotes a word of ExecStart=: specifiers (%) and
// variable references ($) are escaped, and the word is double-quoted when
// it holds anything else unusual.
func systemdExecQuote(s string) string {
	if systemdSafe(s) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// systemdEnvQuote writes one Environment= assignment: double-quoted, with
// specifiers escaped (systemd expands no variables there).
func systemdEnvQuote(key, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + key + "=" + r.Replace(value) + `"`
}

// environmentDQuote writes a value in an environment.d file, double-quoted
// when it holds spaces. render has refused values with $, quotes or
// backslashes, which environment.d would expand or unquote.
func environmentDQuote(s string) string {
	if strings.ContainsAny(s, " \t#") {
		return `"` + s + `"`
	}
	return s
}

// xmlEscape escapes s for a plist's text.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeServiceFile writes a unit, plist or environment file, creating its
// directory.
func writeServiceFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return fileutil.WriteFileAtomic(path, []byte(content), 0o644)
}

// runService runs one service manager command, with a hint when the
// manager cannot be reached.
func runService(ctx context.Context, sys serviceSystem, c []string) error {
	out, err := sys.run(ctx, c[0], c[1:]...)
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
		hint = fmt.Sprintf("; %s is not installed: `mfad service` needs systemd (Linux) or launchd (macOS)", c[0])
	case c[0] == "systemctl" && strings.Contains(msg, "Failed to connect to bus"):
		hint = "; no systemd user instance runs for you: log in through a desktop or ssh session (or enable lingering with `loginctl enable-linger`)"
	}
	return fmt.Errorf("%s: %w%s%s", strings.Join(c, " "), err, msg, hint)
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

func fileExists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// serviceLogHint says where the service's log is.
func serviceLogHint(goos string, f serviceFiles) string {
	if goos == "darwin" {
		return f.logFile
	}
	return "`journalctl --user -u mfad`"
}

func (a *App) serviceUninstall(ctx context.Context, out io.Writer, sys serviceSystem, dryRun bool) error {
	files, err := a.serviceFilesFor(sys)
	if err != nil {
		return err
	}
	var paths []string
	var commands [][]string
	switch sys.goos {
	case "linux":
		paths = []string{files.unit, files.envFile}
		if fileExists(files.unit) {
			commands = append(commands, []string{"systemctl", "--user", "disable", "--now", systemdUnitName})
		}
	case "darwin":
		paths = []string{files.plist, files.envPlist}
		domain := "gui/" + strconv.Itoa(sys.uid)
		if fileExists(files.plist) {
			commands = append(commands, []string{"launchctl", "bootout", domain + "/" + launchdLabel})
		}
		if fileExists(files.envPlist) {
			commands = append(commands, []string{"launchctl", "bootout", domain + "/" + launchdEnvLabel})
			for _, v := range serviceVars() {
				commands = append(commands, []string{"launchctl", "unsetenv", v})
			}
		}
	}
	var present []string
	for _, p := range paths {
		if fileExists(p) {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		fmt.Fprintln(out, "mfad is not installed as a service.")
		return nil
	}
	if sys.goos == "linux" {
		commands = append(commands, []string{"systemctl", "--user", "daemon-reload"})
	}
	if dryRun {
		for _, c := range commands {
			fmt.Fprintf(out, "Would run %s\n", strings.Join(c, " "))
		}
		for _, p := range present {
			fmt.Fprintf(out, "Would remove %s\n", p)
		}
		return nil
	}
	var errs []error
	// Stop first, then remove the files, then let the manager forget them.
	last := len(commands)
	if sys.goos == "linux" {
		last--
	}
	for _, c := range commands[:last] {
		if err := runService(ctx, sys, c); err != nil {
			// An agent that is not loaded cannot be unloaded: not a failure.
			if c[0] == "launchctl" && c[1] == "bootout" {
				continue
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "Ran %s.\n", strings.Join(c, " "))
	}
	for _, p := range present {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		fmt.Fprintf(out, "Removed %s.\n", p)
	}
	for _, c := range commands[last:] {
		if err := runService(ctx, sys, c); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "Ran %s.\n", strings.Join(c, " "))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(out, "The endpoint port stays fixed by listen in the configuration file; set it to 127.0.0.1:0 for a random port. Login sessions lose the variables at the next login.")
	return nil
}

func (a *App) serviceStatus(ctx context.Context, out io.Writer, sys serviceSystem) error {
	files, err := a.serviceFilesFor(sys)
	if err != nil {
		return err
	}
	installed := func(p string) string {
		if fileExists(p) {
			return p
		}
		return p + " (not installed)"
	}
	switch sys.goos {
	case "linux":
		fmt.Fprintf(out, "unit:         %s\n", installed(files.unit))
		fmt.Fprintf(out, "environment:  %s\n", installed(files.envFile))
		if b, err := os.ReadFile(files.envFile); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					fmt.Fprintf(out, "              %s\n", line)
				}
			}
		}
		enabled, _ := sys.run(ctx, "systemctl", "--user", "is-enabled", systemdUnitName)
		active, _ := sys.run(ctx, "systemctl", "--user", "is-active", systemdUnitName)
		fmt.Fprintf(out, "enabled:      %s\n", firstLine(enabled, "unknown"))
		fmt.Fprintf(out, "active:       %s\n", firstLine(active, "unknown"))
	case "darwin":
		domain := "gui/" + strconv.Itoa(sys.uid)
		fmt.Fprintf(out, "agent:        %s\n", installed(files.plist))
		fmt.Fprintf(out, "environment:  %s\n", installed(files.envPlist))
		printed, err := sys.run(ctx, "launchctl", "print", domain+"/"+launchdLabel)
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
		for _, v := range serviceVars()[:2] {
			val, err := sys.run(ctx, "launchctl", "getenv", v)
			if err == nil && len(bytes.TrimSpace(val)) > 0 {
				fmt.Fprintf(out, "              %s=%s\n", v, strings.TrimSpace(string(val)))
			}
		}
		fmt.Fprintf(out, "log:          %s\n", files.logFile)
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
