package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runRoot runs the whole mfad command tree with args and the environment
// env, and returns standard output.
func runRoot(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	root := NewRoot(app)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("mfad %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func TestCompletionScripts(t *testing.T) {
	tests := []struct{ shell, want, syntax string }{
		{"bash", "__start_mfad", "bash"},
		{"zsh", "#compdef mfad", "zsh"},
		{"fish", "complete -c mfad", "fish"},
		{"powershell", "Register-ArgumentCompleter -CommandName 'mfad'", ""},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			script := runRoot(t, nil, "completion", tt.shell)
			if !strings.Contains(script, tt.want) {
				t.Fatalf("the %s script lacks %q:\n%.400s", tt.shell, tt.want, script)
			}
			// Where the shell is installed, it must parse the script.
			sh, err := exec.LookPath(tt.syntax)
			if tt.syntax == "" || err != nil {
				return
			}
			f := filepath.Join(t.TempDir(), "mfad."+tt.shell)
			if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", tt.syntax, err, out)
			}
		})
	}
}

func TestProfileCompletion(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mfad.yaml")
	if err := os.WriteFile(cfg, []byte(serviceTestConfig+"  work-ro:\n    role_arn: arn:aws:iam::444455556666:role/ReadOnly\n    source_profile: work\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, "MFAD_CONFIG": cfg, "AWS_CONFIG_FILE": filepath.Join(dir, "none")}
	complete := func(args ...string) []string {
		t.Helper()
		out := runRoot(t, env, append([]string{"__complete"}, args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// The last line is cobra's directive, e.g. ":4" (no file completion).
		if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
			t.Fatalf("__complete %q printed %q", args, out)
		}
		return lines[:len(lines)-1]
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"unlock", ""}, "admin work work-ro"},
		{[]string{"unlock", "wo"}, "work work-ro"},
		{[]string{"unlock", "work", ""}, ""},
		{[]string{"lock", "a"}, "admin"},
		{[]string{"status", ""}, "admin work work-ro"},
		{[]string{"remove", "work-"}, "work-ro"},
		{[]string{"totp", "set", ""}, "admin work work-ro"},
		{[]string{"env", "--profile", "w"}, "work work-ro"},
		{[]string{"exec", "--profile", ""}, "admin work work-ro"},
		{[]string{"exec", "a"}, "admin"},
		{[]string{"env", "w"}, "work work-ro"},
		{[]string{"credential-process", ""}, "admin work work-ro"},
		{[]string{"lock", "--profile", "ad"}, "admin"},
		{[]string{"unlock", "--profile", "work-"}, "work-ro"},
		{[]string{"credential-process", "--profile", "ad"}, "admin"},
		{[]string{"service", "install", "--profile", ""}, "admin work work-ro"},
		{[]string{"sandbox", "--profile", ""}, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(complete(tt.args...), " "); got != tt.want {
			t.Errorf("mfad %s<TAB> completes %q; want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}
	// A configuration that does not load completes nothing, without an error.
	env["MFAD_CONFIG"] = filepath.Join(dir, "missing.yaml")
	if got := complete("unlock", ""); len(got) != 0 {
		t.Errorf("completed %q from a missing configuration", got)
	}
}

func TestVersionPrintsBuildInfo(t *testing.T) {
	old := Version
	Version = "v1.2.3"
	t.Cleanup(func() { Version = old })
	out := runRoot(t, nil, "version")
	if !strings.HasPrefix(out, "mfad v1.2.3\n") || !strings.Contains(out, "go: "+runtime.Version()+"\n") {
		t.Errorf("mfad version printed:\n%s", out)
	}
}
