// Package service installs the mfad daemon as a per-user login service: a
// systemd user unit on Linux, launchd agents on macOS. Planning is pure:
// NewPlan renders the files and lists the commands from a Spec; Apply
// carries a plan out through a Runner (systemctl, launchctl; a fake in
// tests), all or nothing.
package service

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Templates, rendered by NewPlan.
const (
	// systemdUnitTemplate is the systemd user unit (mfad.service).
	systemdUnitTemplate = "templates/mfad.service.tmpl"
	// systemdEnvironmentTemplate is the environment.d file that points new
	// login sessions at the daemon.
	systemdEnvironmentTemplate = "templates/environment.conf.tmpl"
	// launchdDaemonTemplate is the launchd agent that runs the daemon.
	launchdDaemonTemplate = "templates/daemon.plist.tmpl"
	// launchdEnvironmentTemplate is the launchd agent that sets the client
	// variables at each login.
	launchdEnvironmentTemplate = "templates/environment.plist.tmpl"
)

// Names of what is installed.
const (
	// SystemdUnitName is the systemd user unit.
	SystemdUnitName = "mfad.service"
	// EnvironmentDName is the environment.d file.
	EnvironmentDName = "60-mfad.conf"
	// LaunchdLabel labels the launchd agent that runs the daemon.
	LaunchdLabel = "dev.mfad.daemon"
	// LaunchdEnvLabel labels the launchd agent that sets the variables.
	LaunchdEnvLabel = "dev.mfad.environment"
)

// ClientVars are the variables the service may give login sessions; on
// uninstall, macOS's launchd forgets each of them.
func ClientVars() []string {
	return []string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "MFAD_RUNTIME_DIR", "MFAD_CONFIG",
	}
}

// EnvVar is one NAME=VALUE pair written into a unit, plist or env file.
type EnvVar struct{ Key, Value string }

// Layout says where the service's files go for one user.
type Layout struct {
	// GOOS is linux (systemd) or darwin (launchd).
	GOOS string
	// Linux: the systemd user unit and the environment.d file.
	Unit, EnvFile string
	// macOS: the daemon agent, the environment agent and the log.
	Plist, EnvPlist, LogFile string
}

// LayoutFor returns where the service's files go for a user with home
// directory home and $XDG_CONFIG_HOME xdgConfig ("" when unset) on goos.
func LayoutFor(goos, home, xdgConfig string) (Layout, error) {
	if home == "" {
		return Layout{}, errors.New("no home directory is known: set HOME")
	}
	switch goos {
	case "linux":
		// systemd reads user units and environment.d from $XDG_CONFIG_HOME
		// when it is an absolute path, else from ~/.config.
		base := xdgConfig
		if !filepath.IsAbs(base) {
			base = filepath.Join(home, ".config")
		}
		return Layout{GOOS: goos,
			Unit:    filepath.Join(base, "systemd", "user", SystemdUnitName),
			EnvFile: filepath.Join(base, "environment.d", EnvironmentDName),
		}, nil
	case "darwin":
		agents := filepath.Join(home, "Library", "LaunchAgents")
		return Layout{GOOS: goos,
			Plist:    filepath.Join(agents, LaunchdLabel+".plist"),
			EnvPlist: filepath.Join(agents, LaunchdEnvLabel+".plist"),
			LogFile:  filepath.Join(home, "Library", "Logs", "mfad.log"),
		}, nil
	}
	return Layout{}, fmt.Errorf("`mfad service` knows systemd (Linux) and launchd (macOS), not %s: start `mfad daemon` at login with your system's own tool (on Windows, Task Scheduler; see docs/desktop.md)", goos)
}

// Files lists the layout's files.
func (l Layout) Files() []string {
	if l.GOOS == "darwin" {
		return []string{l.Plist, l.EnvPlist}
	}
	return []string{l.Unit, l.EnvFile}
}

// Main is the file whose presence says the service is installed.
func (l Layout) Main() string {
	if l.GOOS == "darwin" {
		return l.Plist
	}
	return l.Unit
}

// LogHint says where the service's log is.
func (l Layout) LogHint() string {
	if l.GOOS == "darwin" {
		return l.LogFile
	}
	return "`journalctl --user -u mfad`"
}

// Spec is what an install needs to know.
type Spec struct {
	Layout Layout
	// UID is the user's id, for launchd's gui/UID domain.
	UID int
	// Executable is the absolute path of the mfad binary.
	Executable string
	// Profile is the profile login sessions get.
	Profile string
	// ConfigFile is the configuration file; with SetListen, Listen is
	// written to it as listen.
	ConfigFile string
	Listen     string
	SetListen  bool
	// DaemonEnv is the daemon's own environment; ClientEnv the variables
	// login sessions get.
	DaemonEnv, ClientEnv []EnvVar
}

// File is a file a plan writes.
type File struct {
	Path, Content string
}

// Command is a service manager command.
type Command struct {
	Args []string
	// MayFail marks a command whose failure is expected (unloading an
	// agent that is not loaded).
	MayFail bool
}

func (c Command) String() string { return strings.Join(c.Args, " ") }

// Plan is everything one install writes and runs, and how to take it back.
type Plan struct {
	Spec
	Files    []File
	Commands []Command
	// UndoBefore runs, when a step fails, before the files are restored;
	// UndoAfter after. Fresh applies when nothing was installed before,
	// Again when a previous install's files were put back.
	UndoBeforeFresh, UndoAfterFresh []Command
	UndoBeforeAgain, UndoAfterAgain []Command
}

// NewPlan renders s's files and lists its commands. It touches nothing.
func NewPlan(s Spec) (*Plan, error) {
	p := &Plan{Spec: s}
	add := func(path, tmpl string, data any) error {
		text, err := render(tmpl, data)
		if err != nil {
			return err
		}
		p.Files = append(p.Files, File{Path: path, Content: text})
		return nil
	}
	cmd := func(args ...string) Command { return Command{Args: args} }
	switch s.Layout.GOOS {
	case "linux":
		for _, v := range s.ClientEnv {
			if strings.ContainsAny(v.Value, "$\\\"'`\n\r\x00") {
				return nil, fmt.Errorf("%s=%s cannot be written to environment.d: its value holds quotes, $ or a backslash; use a plainer path", v.Key, v.Value)
			}
		}
		if err := add(s.Layout.Unit, systemdUnitTemplate, map[string]any{"Executable": s.Executable, "Env": s.DaemonEnv}); err != nil {
			return nil, err
		}
		if err := add(s.Layout.EnvFile, systemdEnvironmentTemplate, map[string]any{"Profile": s.Profile, "Env": s.ClientEnv}); err != nil {
			return nil, err
		}
		p.Commands = []Command{
			cmd("systemctl", "--user", "daemon-reload"),
			cmd("systemctl", "--user", "enable", SystemdUnitName),
			// restart starts a stopped service and applies a new unit to a
			// running one.
			cmd("systemctl", "--user", "restart", SystemdUnitName),
		}
		p.UndoBeforeFresh = []Command{cmd("systemctl", "--user", "disable", "--now", SystemdUnitName)}
		p.UndoAfterFresh = []Command{cmd("systemctl", "--user", "daemon-reload")}
		p.UndoAfterAgain = []Command{cmd("systemctl", "--user", "daemon-reload"), cmd("systemctl", "--user", "restart", SystemdUnitName)}
	case "darwin":
		domain := "gui/" + strconv.Itoa(s.UID)
		var script []string
		for _, v := range s.ClientEnv {
			script = append(script, "/bin/launchctl setenv "+v.Key+" "+shQuote(v.Value))
		}
		if err := add(s.Layout.Plist, launchdDaemonTemplate, map[string]any{
			"Label": LaunchdLabel, "Executable": s.Executable, "Env": s.DaemonEnv, "LogFile": s.Layout.LogFile,
		}); err != nil {
			return nil, err
		}
		if err := add(s.Layout.EnvPlist, launchdEnvironmentTemplate, map[string]any{
			"Label": LaunchdEnvLabel, "Profile": s.Profile, "Script": strings.Join(script, " && "),
		}); err != nil {
			return nil, err
		}
		// bootstrap refuses an agent that is loaded: unload first (which
		// fails, harmlessly, when it is not).
		bootout := []Command{
			{Args: []string{"launchctl", "bootout", domain + "/" + LaunchdEnvLabel}, MayFail: true},
			{Args: []string{"launchctl", "bootout", domain + "/" + LaunchdLabel}, MayFail: true},
		}
		p.Commands = append(p.Commands, bootout...)
		var unset []Command
		for _, v := range s.ClientEnv {
			p.Commands = append(p.Commands, cmd("launchctl", "setenv", v.Key, v.Value))
			unset = append(unset, cmd("launchctl", "unsetenv", v.Key))
		}
		p.Commands = append(p.Commands,
			cmd("launchctl", "bootstrap", domain, s.Layout.EnvPlist),
			cmd("launchctl", "bootstrap", domain, s.Layout.Plist),
		)
		p.UndoBeforeFresh = append(append([]Command{}, bootout...), unset...)
		p.UndoBeforeAgain = bootout
		p.UndoAfterAgain = []Command{
			cmd("launchctl", "bootstrap", domain, s.Layout.EnvPlist),
			cmd("launchctl", "bootstrap", domain, s.Layout.Plist),
		}
	default:
		return nil, fmt.Errorf("`mfad service` knows systemd (Linux) and launchd (macOS), not %s", s.Layout.GOOS)
	}
	return p, nil
}

// Print shows a dry run.
func (p *Plan) Print(w io.Writer) {
	if p.SetListen {
		fmt.Fprintf(w, "Would set listen: %s in %s.\n", p.Listen, p.ConfigFile)
	}
	for _, f := range p.Files {
		fmt.Fprintf(w, "Would write %s:\n%s\n", f.Path, f.Content)
	}
	for _, c := range p.Commands {
		fmt.Fprintf(w, "Would run %s\n", c)
	}
}

// render renders one of the templates.
func render(name string, data any) (string, error) {
	text, err := templates.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"execQuote": systemdExecQuote,
		"envQuote":  systemdEnvQuote,
		"envdQuote": environmentDQuote,
		"xml":       xmlEscape,
	}).Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	return b.String(), nil
}
