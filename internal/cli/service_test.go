package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/testenv"
)

const serviceTestConfig = `profiles:
  work:
    mfa_serial: arn:aws:iam::111122223333:mfa/alice
    region: eu-west-1
  admin:
    role_arn: arn:aws:iam::444455556666:role/Admin
    source_profile: work
    region: eu-west-2
`

// fakeServiceManager records the commands `mfad service` runs instead of
// running them.
type fakeServiceManager struct {
	mu       sync.Mutex
	commands []string
	// outputs and failures are keyed by the command line.
	outputs  map[string]string
	failures map[string]bool
	portErr  error
	sleeps   int
}

func (f *fakeServiceManager) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, line)
	out := []byte(f.outputs[line])
	if f.failures[line] {
		return out, errors.New("exit status 1")
	}
	return out, nil
}

func (f *fakeServiceManager) ran() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// serviceWorld is a temporary home with a configuration, an environment
// and a fake service manager.
type serviceWorld struct {
	t      *testing.T
	home   string
	runDir string
	env    map[string]string
	mgr    *fakeServiceManager
	sys    serviceSystem
	exe    string
}

func newServiceWorld(t *testing.T, goos string) *serviceWorld {
	t.Helper()
	home := t.TempDir()
	xdgRun := t.TempDir()
	w := &serviceWorld{t: t, home: home, runDir: filepath.Join(xdgRun, "mfad"),
		env: map[string]string{
			"HOME":            home,
			"XDG_RUNTIME_DIR": xdgRun,
			"PATH":            "/usr/local/bin:relative/bin:/usr/bin",
			"AWS_CONFIG_FILE": filepath.Join(home, "no-aws-config"),
		},
		mgr: &fakeServiceManager{outputs: map[string]string{}, failures: map[string]bool{}},
		exe: "/opt/mfad tools/mfad",
	}
	w.sys = serviceSystem{
		goos:       goos,
		uid:        501,
		executable: func() (string, error) { return w.exe, nil },
		run:        w.mgr.run,
		portFree:   func(int) error { return w.mgr.portErr },
		sleep: func(context.Context, time.Duration) error {
			w.mgr.sleeps++
			return nil
		},
	}
	w.write(".config/mfad/config.yaml", serviceTestConfig)
	return w
}

func (w *serviceWorld) path(rel string) string { return filepath.Join(w.home, filepath.FromSlash(rel)) }

func (w *serviceWorld) write(rel, content string) {
	w.t.Helper()
	p := w.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *serviceWorld) read(rel string) string {
	w.t.Helper()
	b, err := os.ReadFile(w.path(rel))
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func (w *serviceWorld) app() *App {
	return &App{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv: func(k string) string { return w.env[k] }}
}

// mfad runs `mfad service ARGS...` and returns its output.
func (w *serviceWorld) mfad(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := newServiceCmdWith(w.app(), w.sys)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func (w *serviceWorld) must(args ...string) string {
	w.t.Helper()
	out, err := w.mfad(args...)
	if err != nil {
		w.t.Fatalf("mfad service %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func wantIn(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

func equalLists(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  got  %q\n  want %q", what, got, want)
	}
}

func TestServiceInstallLinux(t *testing.T) {
	w := newServiceWorld(t, "linux")
	// Two profiles: the one login sessions get must be named.
	if _, err := w.mfad("install"); err == nil || !strings.Contains(err.Error(), "--profile") {
		t.Fatalf("install with two profiles and no --profile: %v", err)
	}
	out := w.must("install", "--profile", "admin")

	unit := w.read(".config/systemd/user/mfad.service")
	wantIn(t, "the unit", unit,
		"\nExecStart=\"/opt/mfad tools/mfad\" daemon\n",
		"\nEnvironment=\"PATH=/usr/local/bin:/usr/bin\"\n",
		"\nRestart=on-failure\n", "\nNoNewPrivileges=yes\n", "\nUMask=0077\n", "\nWantedBy=default.target\n")
	if strings.Contains(unit, "MFAD_RUNTIME_DIR") || strings.Contains(unit, "\nPrivateTmp=") || strings.Contains(unit, "\nProtectHome=") {
		t.Errorf("the unit pins the runtime directory or hides it:\n%s", unit)
	}
	env := w.read(".config/environment.d/60-mfad.conf")
	var vars []string
	for _, line := range strings.Split(env, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			vars = append(vars, line)
		}
	}
	equalLists(t, "environment.d", vars, []string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:58321/v1/credentials/admin",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + filepath.Join(w.runDir, daemon.TokenFile),
		"AWS_REGION=eu-west-2",
		"AWS_DEFAULT_REGION=eu-west-2",
	})
	wantIn(t, "the configuration", w.read(".config/mfad/config.yaml"), "listen: 127.0.0.1:58321\n", "mfa_serial: arn:aws:iam::111122223333:mfa/alice")
	equalLists(t, "commands", w.mgr.ran(), []string{
		"systemctl --user daemon-reload",
		"systemctl --user enable mfad.service",
		"systemctl --user restart mfad.service",
	})
	wantIn(t, "the output", out, "Set listen: 127.0.0.1:58321", "Wrote "+w.path(".config/systemd/user/mfad.service"),
		"does not answer yet", "journalctl --user -u mfad", `eval "$(mfad env --profile admin)"`, "mfad unlock work")

	// Installing again with another port moves the endpoint; the unit is
	// rewritten and the service restarted.
	w.mgr.commands = nil
	w.must("install", "--profile", "work", "--port", "58400")
	wantIn(t, "the configuration", w.read(".config/mfad/config.yaml"), "listen: 127.0.0.1:58400\n")
	wantIn(t, "environment.d", w.read(".config/environment.d/60-mfad.conf"), "FULL_URI=http://127.0.0.1:58400/v1/credentials/work\n")
	wantIn(t, "commands", strings.Join(w.mgr.ran(), "\n"), "systemctl --user restart mfad.service")

	// Without --port, the configured port stays.
	w.must("install", "--profile", "work")
	wantIn(t, "environment.d", w.read(".config/environment.d/60-mfad.conf"), "127.0.0.1:58400/")

	// MFAD_LISTEN in the installing shell does not reach the service: the
	// port it names is written to the file.
	w.env["MFAD_LISTEN"] = "127.0.0.1:58401"
	w.must("install", "--profile", "work")
	wantIn(t, "the configuration", w.read(".config/mfad/config.yaml"), "listen: 127.0.0.1:58401\n")
	delete(w.env, "MFAD_LISTEN")

	// A port another program holds is refused before anything changes.
	w.mgr.portErr = errors.New("address already in use")
	_, err := w.mfad("install", "--profile", "work", "--port", "58500")
	if err == nil || !strings.Contains(err.Error(), "port 58500 on 127.0.0.1 is in use") || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("busy port: %v", err)
	}
	wantIn(t, "the configuration", w.read(".config/mfad/config.yaml"), "listen: 127.0.0.1:58401\n")
}

func TestServiceInstallPinsNamedConfigAndRuntimeDir(t *testing.T) {
	w := newServiceWorld(t, "linux")
	cfg := w.path("elsewhere/mfad.yaml")
	w.write("elsewhere/mfad.yaml", serviceTestConfig)
	w.env["MFAD_CONFIG"] = cfg
	w.env["MFAD_RUNTIME_DIR"] = w.path("run")
	w.env["XDG_CONFIG_HOME"] = w.path("xdg")
	w.must("install", "--profile", "work")
	unit := w.read("xdg/systemd/user/mfad.service")
	wantIn(t, "the unit", unit, `Environment="MFAD_CONFIG=`+cfg+`"`, `Environment="MFAD_RUNTIME_DIR=`+w.path("run")+`"`)
	wantIn(t, "environment.d", w.read("xdg/environment.d/60-mfad.conf"),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+filepath.Join(w.path("run"), "token")+"\n",
		"MFAD_CONFIG="+cfg+"\n", "MFAD_RUNTIME_DIR="+w.path("run")+"\n")
	wantIn(t, "the named configuration", w.read("elsewhere/mfad.yaml"), "listen: 127.0.0.1:58321")
}

// plistStrings returns the text of every <string> in a plist, checking
// that it is well-formed XML.
func plistStrings(t *testing.T, doc string) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	var out []string
	inString := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("plist is not well-formed: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			inString = tk.Name.Local == "string"
			if inString {
				out = append(out, "")
			}
		case xml.EndElement:
			inString = false
		case xml.CharData:
			if inString {
				out[len(out)-1] += string(tk)
			}
		}
	}
}

func TestServiceInstallDarwin(t *testing.T) {
	w := newServiceWorld(t, "darwin")
	w.exe = "/Users/a/bin/mfad & co"
	// bootout fails for agents that are not loaded: that is expected.
	w.mgr.failures["launchctl bootout gui/501/dev.mfad.daemon"] = true
	w.mgr.failures["launchctl bootout gui/501/dev.mfad.environment"] = true
	w.must("install", "--profile", "work")

	agent := w.read("Library/LaunchAgents/dev.mfad.daemon.plist")
	strs := plistStrings(t, agent)
	wantIn(t, "the agent's strings", strings.Join(strs, "\n"),
		"dev.mfad.daemon\n/Users/a/bin/mfad & co\ndaemon\n", w.runDir, "/usr/local/bin:/usr/bin", w.path("Library/Logs/mfad.log"))
	wantIn(t, "the agent", agent, "<key>RunAtLoad</key>\n\t<true/>", "<key>KeepAlive</key>", "<key>MFAD_RUNTIME_DIR</key>",
		"<key>StandardOutPath</key>", "<key>StandardErrorPath</key>")

	envAgent := w.read("Library/LaunchAgents/dev.mfad.environment.plist")
	strs = plistStrings(t, envAgent)
	if len(strs) != 4 || strs[0] != "dev.mfad.environment" || strs[1] != "/bin/sh" || strs[2] != "-c" {
		t.Fatalf("environment agent strings %q", strs)
	}
	script := strs[3]
	wantIn(t, "the environment script", script,
		"/bin/launchctl setenv AWS_CONTAINER_CREDENTIALS_FULL_URI 'http://127.0.0.1:58321/v1/credentials/work'",
		"/bin/launchctl setenv AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '"+filepath.Join(w.runDir, "token")+"'",
		"/bin/launchctl setenv MFAD_RUNTIME_DIR '"+w.runDir+"'")
	if sh, err := exec.LookPath("sh"); err == nil {
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("the environment script is not valid sh: %v\n%s", err, out)
		}
	}
	equalLists(t, "commands", w.mgr.ran(), []string{
		"launchctl bootout gui/501/dev.mfad.environment",
		"launchctl bootout gui/501/dev.mfad.daemon",
		"launchctl setenv AWS_CONTAINER_CREDENTIALS_FULL_URI http://127.0.0.1:58321/v1/credentials/work",
		"launchctl setenv AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + filepath.Join(w.runDir, "token"),
		"launchctl setenv AWS_REGION eu-west-1",
		"launchctl setenv AWS_DEFAULT_REGION eu-west-1",
		"launchctl setenv MFAD_RUNTIME_DIR " + w.runDir,
		"launchctl bootstrap gui/501 " + w.path("Library/LaunchAgents/dev.mfad.environment.plist"),
		"launchctl bootstrap gui/501 " + w.path("Library/LaunchAgents/dev.mfad.daemon.plist"),
	})

	// bootstrap failing is an error.
	w.mgr.failures["launchctl bootstrap gui/501 "+w.path("Library/LaunchAgents/dev.mfad.daemon.plist")] = true
	if _, err := w.mfad("install", "--profile", "work"); err == nil || !strings.Contains(err.Error(), "launchctl bootstrap") {
		t.Fatalf("failed bootstrap: %v", err)
	}
}

func TestServiceUninstall(t *testing.T) {
	t.Run("linux", func(t *testing.T) {
		w := newServiceWorld(t, "linux")
		w.must("install", "--profile", "work")
		w.mgr.commands = nil
		out := w.must("uninstall")
		for _, f := range []string{".config/systemd/user/mfad.service", ".config/environment.d/60-mfad.conf"} {
			if _, err := os.Stat(w.path(f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there: %v", f, err)
			}
		}
		equalLists(t, "commands", w.mgr.ran(), []string{
			"systemctl --user disable --now mfad.service",
			"systemctl --user daemon-reload",
		})
		wantIn(t, "the output", out, "Removed "+w.path(".config/systemd/user/mfad.service"), "listen")
		if out := w.must("uninstall"); !strings.Contains(out, "not installed") {
			t.Errorf("second uninstall: %s", out)
		}
	})
	t.Run("darwin", func(t *testing.T) {
		w := newServiceWorld(t, "darwin")
		w.must("install", "--profile", "work")
		w.mgr.commands = nil
		w.mgr.failures["launchctl bootout gui/501/dev.mfad.environment"] = true
		w.must("uninstall")
		for _, f := range []string{"Library/LaunchAgents/dev.mfad.daemon.plist", "Library/LaunchAgents/dev.mfad.environment.plist"} {
			if _, err := os.Stat(w.path(f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there: %v", f, err)
			}
		}
		equalLists(t, "commands", w.mgr.ran(), []string{
			"launchctl bootout gui/501/dev.mfad.daemon",
			"launchctl bootout gui/501/dev.mfad.environment",
			"launchctl unsetenv AWS_CONTAINER_CREDENTIALS_FULL_URI",
			"launchctl unsetenv AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
			"launchctl unsetenv AWS_REGION",
			"launchctl unsetenv AWS_DEFAULT_REGION",
			"launchctl unsetenv MFAD_RUNTIME_DIR",
			"launchctl unsetenv MFAD_CONFIG",
		})
	})
}

func TestServiceDryRun(t *testing.T) {
	w := newServiceWorld(t, "linux")
	out := w.must("install", "--profile", "work", "--dry-run")
	wantIn(t, "the dry run", out, "Would set listen: 127.0.0.1:58321", "Would write "+w.path(".config/systemd/user/mfad.service"),
		"ExecStart=\"/opt/mfad tools/mfad\" daemon", "Would run systemctl --user enable mfad.service")
	if len(w.mgr.ran()) != 0 {
		t.Errorf("a dry run ran %q", w.mgr.ran())
	}
	if _, err := os.Stat(w.path(".config/systemd/user/mfad.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run wrote the unit: %v", err)
	}
	if strings.Contains(w.read(".config/mfad/config.yaml"), "listen") {
		t.Error("a dry run changed the configuration")
	}
}

func TestServiceRefusals(t *testing.T) {
	w := newServiceWorld(t, "linux")
	w.exe = "/tmp/go-build1234/b001/exe/mfad"
	if _, err := w.mfad("install", "--profile", "work"); err == nil || !strings.Contains(err.Error(), "go install") {
		t.Errorf("go run binary: %v", err)
	}
	w = newServiceWorld(t, "linux")
	delete(w.env, "XDG_RUNTIME_DIR")
	if _, err := w.mfad("install", "--profile", "work"); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR is not set") {
		t.Errorf("no XDG_RUNTIME_DIR: %v", err)
	}
	w = newServiceWorld(t, "linux")
	if _, err := w.mfad("install", "--profile", "work", "--port", "70000"); err == nil || !strings.Contains(err.Error(), "1 to 65535") {
		t.Errorf("bad port: %v", err)
	}
	w = newServiceWorld(t, "windows")
	for _, sub := range []string{"install", "uninstall", "status"} {
		if _, err := w.mfad(sub); err == nil || !strings.Contains(err.Error(), "Task Scheduler") {
			t.Errorf("%s on windows: %v", sub, err)
		}
	}
	if len(w.mgr.ran()) != 0 {
		t.Errorf("ran %q", w.mgr.ran())
	}
}

// TestServiceWithRunningDaemon runs a real daemon in the world's runtime
// directory: install refuses to start a second one next to a daemon that
// is not the service, and status reports the one that runs.
func TestServiceWithRunningDaemon(t *testing.T) {
	w := newServiceWorld(t, "linux")
	e := testenv.New(t)
	e.Config.Listen = "127.0.0.1:0"
	d, err := daemon.New(daemon.Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, daemon.RunOptions{RuntimeDir: w.runDir, Listen: e.Config.Listen, Ready: func(ep string) { ready <- ep }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var endpoint string
	select {
	case endpoint = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not start")
	}

	_, err = w.mfad("install", "--profile", "work")
	if err == nil || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "not as a service") {
		t.Fatalf("install next to a daemon run by hand: %v", err)
	}
	if len(w.mgr.ran()) != 0 {
		t.Fatalf("ran %q", w.mgr.ran())
	}

	w.mgr.outputs["systemctl --user is-enabled mfad.service"] = "enabled\n"
	w.mgr.outputs["systemctl --user is-active mfad.service"] = "active\n"
	w.write(".config/systemd/user/mfad.service", "[Unit]\n")
	out := w.must("status")
	wantIn(t, "status", out,
		"unit:         "+w.path(".config/systemd/user/mfad.service")+"\n",
		"environment:  "+w.path(".config/environment.d/60-mfad.conf")+" (not installed)\n",
		"enabled:      enabled\n", "active:       active\n",
		"daemon:       running, pid ", "endpoint "+endpoint+"\n")

	// Reinstalling the service (the unit exists) goes ahead and finds the
	// daemon answering on the new port once it restarts; here it stays on
	// its own port, so the install says it does not answer yet.
	out = w.must("install", "--profile", "work")
	wantIn(t, "install", out, "does not answer yet")
	if w.mgr.sleeps == 0 {
		t.Error("install did not wait for the service")
	}
}

func TestServiceStatusNotInstalled(t *testing.T) {
	w := newServiceWorld(t, "darwin")
	w.mgr.failures["launchctl print gui/501/dev.mfad.daemon"] = true
	out := w.must("status")
	wantIn(t, "status", out, "agent:        "+w.path("Library/LaunchAgents/dev.mfad.daemon.plist")+" (not installed)",
		"launchd:      not loaded", "daemon:       not running")

	w = newServiceWorld(t, "darwin")
	w.mgr.outputs["launchctl print gui/501/dev.mfad.daemon"] = "gui/501/dev.mfad.daemon = {\n\tactive count = 1\n\tstate = running\n\tpid = 4242\n}\n"
	w.mgr.outputs["launchctl getenv AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:58321/v1/credentials/work\n"
	out = w.must("status")
	wantIn(t, "status", out, "launchd:      loaded, state running, pid 4242",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:58321/v1/credentials/work")
}

// TestSystemdAcceptsTheUnit has systemd parse the unit, where systemd is
// installed.
func TestSystemdAcceptsTheUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	// systemd checks that ExecStart names an executable.
	exe, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no `true` program")
	}
	w := newServiceWorld(t, "linux")
	w.exe = exe
	w.env["MFAD_CONFIG"] = w.path(".config/mfad/config.yaml")
	w.env["PATH"] = "/usr/bin:/bin:/opt/100% tools/bin"
	w.must("install", "--profile", "work")
	unit := w.path(".config/systemd/user/mfad.service")
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, w.read(".config/systemd/user/mfad.service"))
	}
}

// An explicit region reaches login sessions even when it is mfad's
// fallback value; no region set anywhere gives them none.
func TestServiceInstallKeepsAnExplicitRegion(t *testing.T) {
	w := newServiceWorld(t, "linux")
	w.write(".config/mfad/config.yaml", "profiles:\n  work:\n    mfa_serial: arn:aws:iam::111122223333:mfa/alice\n    region: us-east-1\n")
	w.must("install", "work")
	wantIn(t, "environment.d", w.read(".config/environment.d/60-mfad.conf"), "\nAWS_REGION=us-east-1\n", "\nAWS_DEFAULT_REGION=us-east-1\n")

	w = newServiceWorld(t, "linux")
	w.write(".config/mfad/config.yaml", "profiles:\n  work:\n    mfa_serial: arn:aws:iam::111122223333:mfa/alice\n")
	w.must("install", "--profile", "work")
	if env := w.read(".config/environment.d/60-mfad.conf"); strings.Contains(env, "AWS_REGION") {
		t.Errorf("a region set nowhere reached login sessions:\n%s", env)
	}
}

// When systemctl fails, install leaves nothing behind: no unit, no
// environment file, the configuration as it was.
func TestServiceInstallIsAllOrNothing(t *testing.T) {
	w := newServiceWorld(t, "linux")
	before := w.read(".config/mfad/config.yaml")
	w.mgr.failures["systemctl --user restart mfad.service"] = true
	out, err := w.mfad("install", "--profile", "work")
	if err == nil || !strings.Contains(err.Error(), "restart mfad.service") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("install with a failing systemctl: %v\n%s", err, out)
	}
	for _, f := range []string{".config/systemd/user/mfad.service", ".config/environment.d/60-mfad.conf"} {
		if _, err := os.Stat(w.path(f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if got := w.read(".config/mfad/config.yaml"); got != before {
		t.Errorf("configuration edit left behind:\n%s", got)
	}
	wantIn(t, "commands", strings.Join(w.mgr.ran(), "\n"), "systemctl --user disable --now mfad.service")
}
