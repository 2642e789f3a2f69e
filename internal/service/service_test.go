package service

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeRunner records commands and fails those in fail.
type fakeRunner struct {
	mu   sync.Mutex
	ran  []string
	fail map[string]bool
}

func (f *fakeRunner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, line)
	if f.fail[line] {
		return []byte("Job for mfad.service failed."), errors.New("exit status 1")
	}
	return nil, nil
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  got  %q\n  want %q", what, got, want)
	}
}

// world is a home directory with a configuration file.
type world struct {
	home, config string
	layout       Layout
	spec         Spec
}

const configText = "# my settings\nprofiles:\n  work:\n    mfa_serial: arn:aws:iam::111122223333:mfa/alice\n"

func newWorld(t *testing.T, goos string) *world {
	t.Helper()
	w := &world{home: t.TempDir()}
	w.config = filepath.Join(w.home, ".config", "mfad", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(w.config), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.config, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.layout, err = LayoutFor(goos, w.home, ""); err != nil {
		t.Fatal(err)
	}
	w.spec = Spec{Layout: w.layout, UID: 501, Executable: "/usr/local/bin/mfad", Profile: "work",
		ConfigFile: w.config, Listen: "127.0.0.1:58321", SetListen: true,
		DaemonEnv: []EnvVar{{"PATH", "/usr/bin"}},
		ClientEnv: []EnvVar{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:58321/v1/credentials/work"}, {"AWS_REGION", "us-east-1"}}}
	return w
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewPlanTouchesNothing(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		w := newWorld(t, goos)
		p, err := NewPlan(w.spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Files) != 2 || len(p.Commands) == 0 {
			t.Fatalf("%s: plan %+v", goos, p)
		}
		for _, f := range p.Files {
			if Exists(f.Path) {
				t.Errorf("%s: NewPlan wrote %s", goos, f.Path)
			}
		}
		if read(t, w.config) != configText {
			t.Errorf("%s: NewPlan changed the configuration", goos)
		}
		var out bytes.Buffer
		p.Print(&out)
		if !strings.Contains(out.String(), "Would set listen: 127.0.0.1:58321") || !strings.Contains(out.String(), "AWS_REGION") {
			t.Errorf("%s: dry run %s", goos, out.String())
		}
	}
	if _, err := LayoutFor("plan9", "/home/u", ""); err == nil {
		t.Error("a layout for plan9")
	}
	w := newWorld(t, "linux")
	w.spec.ClientEnv = append(w.spec.ClientEnv, EnvVar{"MFAD_CONFIG", "/home/$USER/x"})
	if _, err := NewPlan(w.spec); err == nil || !strings.Contains(err.Error(), "environment.d") {
		t.Errorf("a $ in environment.d: %v", err)
	}
}

// When systemctl fails, the unit, the environment file and the
// configuration edit are undone, and systemd is told to forget the unit.
func TestApplyIsAllOrNothingLinux(t *testing.T) {
	w := newWorld(t, "linux")
	p, err := NewPlan(w.spec)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{fail: map[string]bool{"systemctl --user restart mfad.service": true}}
	var out bytes.Buffer
	err = Apply(context.Background(), p, r, &out)
	if err == nil || !strings.Contains(err.Error(), "systemctl --user restart mfad.service") || !strings.Contains(err.Error(), "Job for mfad.service failed") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Apply: %v", err)
	}
	for _, f := range w.layout.Files() {
		if Exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
	if got := read(t, w.config); got != configText {
		t.Errorf("configuration not restored:\n%s", got)
	}
	equal(t, "commands", r.ran, []string{
		"systemctl --user daemon-reload",
		"systemctl --user enable mfad.service",
		"systemctl --user restart mfad.service",
		"systemctl --user disable --now mfad.service",
		"systemctl --user daemon-reload",
	})

	// Installed before: a failed reinstall puts the previous files back
	// and starts the previous unit again.
	r.fail = nil
	if err := Apply(context.Background(), p, r, &out); err != nil {
		t.Fatal(err)
	}
	installedConfig := read(t, w.config)
	if !strings.Contains(installedConfig, "listen: 127.0.0.1:58321") || !strings.Contains(installedConfig, "# my settings") {
		t.Fatalf("configuration after install:\n%s", installedConfig)
	}
	oldUnit, oldEnv := read(t, w.layout.Unit), read(t, w.layout.EnvFile)
	w.spec.Listen = "127.0.0.1:58400"
	w.spec.ClientEnv[0].Value = "http://127.0.0.1:58400/v1/credentials/work"
	w.spec.Executable = "/opt/mfad2/mfad"
	p2, _ := NewPlan(w.spec)
	r.ran = nil
	r.fail = map[string]bool{"systemctl --user enable mfad.service": true}
	if err := Apply(context.Background(), p2, r, &out); err == nil {
		t.Fatal("a failed reinstall succeeded")
	}
	if read(t, w.layout.Unit) != oldUnit || read(t, w.layout.EnvFile) != oldEnv || read(t, w.config) != installedConfig {
		t.Error("a failed reinstall did not restore the previous install")
	}
	equal(t, "commands", r.ran, []string{
		"systemctl --user daemon-reload",
		"systemctl --user enable mfad.service",
		"systemctl --user daemon-reload",
		"systemctl --user restart mfad.service",
	})
}

func TestApplyIsAllOrNothingDarwin(t *testing.T) {
	w := newWorld(t, "darwin")
	p, err := NewPlan(w.spec)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{fail: map[string]bool{"launchctl bootstrap gui/501 " + w.layout.Plist: true}}
	var out bytes.Buffer
	if err := Apply(context.Background(), p, r, &out); err == nil {
		t.Fatal("Apply succeeded")
	}
	for _, f := range w.layout.Files() {
		if Exists(f) {
			t.Errorf("%s left behind", f)
		}
	}
	if read(t, w.config) != configText {
		t.Error("configuration not restored")
	}
	ran := strings.Join(r.ran, "\n")
	for _, want := range []string{"launchctl unsetenv AWS_CONTAINER_CREDENTIALS_FULL_URI", "launchctl unsetenv AWS_REGION"} {
		if !strings.Contains(ran, want) {
			t.Errorf("rollback did not run %q:\n%s", want, ran)
		}
	}
	if !strings.HasSuffix(ran, "launchctl unsetenv AWS_REGION") {
		t.Errorf("commands:\n%s", ran)
	}
}

// A failure before any command (an unwritable directory) restores the
// configuration and runs nothing.
func TestApplyFailsBeforeCommands(t *testing.T) {
	w := newWorld(t, "linux")
	// A file where the unit's directory should be.
	if err := os.MkdirAll(filepath.Join(w.home, ".config", "systemd"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.home, ".config", "systemd", "user"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := NewPlan(w.spec)
	r := &fakeRunner{}
	var out bytes.Buffer
	if err := Apply(context.Background(), p, r, &out); err == nil {
		t.Fatal("Apply succeeded")
	}
	if len(r.ran) != 0 {
		t.Errorf("ran %q", r.ran)
	}
	if read(t, w.config) != configText || Exists(w.layout.EnvFile) {
		t.Error("not rolled back")
	}
}
func TestSystemdQuoting(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/bin/mfad", "/usr/bin/mfad"},
		{"/opt/my tools/mfad", `"/opt/my tools/mfad"`},
		{`/opt/100%/$HOME/"q"\mfad`, `"/opt/100%%/$$HOME/\"q\"\\mfad"`},
	}
	for _, tt := range tests {
		if got := systemdExecQuote(tt.in); got != tt.want {
			t.Errorf("systemdExecQuote(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
	if got := systemdEnvQuote("PATH", `/a b/100%/$X`); got != `"PATH=/a b/100%%/$X"` {
		t.Errorf("systemdEnvQuote = %s", got)
	}
}
