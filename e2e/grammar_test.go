package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/c0950fac/mfad/internal/testenv"
)

// exitCode is err's exit status (0 for nil, -1 when it did not exit).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Every command that acts on a profile takes it as an argument, with
// --profile, or from MFAD_PROFILE; hints name what works.
func TestOneGrammar(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()

	// A bare lock with several profiles: the hint names what lock accepts.
	_, errs, err := w.run(nil, "lock")
	if err == nil || !strings.Contains(errs, "as an argument or with --profile") || !strings.Contains(errs, "--all") {
		t.Fatalf("bare lock: %v %q", err, errs)
	}
	ways := map[string]func(cmd string, rest ...string) (string, string, error){
		"argument": func(cmd string, rest ...string) (string, string, error) {
			return w.run(nil, append([]string{cmd, "admin"}, rest...)...)
		},
		"--profile": func(cmd string, rest ...string) (string, string, error) {
			return w.run(nil, append([]string{cmd, "--profile", "admin"}, rest...)...)
		},
		"MFAD_PROFILE": func(cmd string, rest ...string) (string, string, error) {
			return w.runEnv([]string{"MFAD_PROFILE=admin"}, nil, append([]string{cmd}, rest...)...)
		},
	}
	for way, run := range ways {
		out, errs, err := run("env", "--format", "json")
		var env map[string]string
		if err != nil || json.Unmarshal([]byte(out), &env) != nil || !strings.HasSuffix(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "/admin") {
			t.Errorf("env by %s: %v %q %q", way, err, out, errs)
		}
		out, errs, err = run("credential-process")
		if err != nil || !strings.Contains(out, `"Version":1`) {
			t.Errorf("credential-process by %s: %v %q", way, err, errs)
		}
		out, errs, err = run("exec", "--", "sh", "-c", `echo "$AWS_CONTAINER_CREDENTIALS_FULL_URI"`)
		if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "/admin") {
			t.Errorf("exec by %s: %v %q %q", way, err, out, errs)
		}
		// Locking the role profile locks it alone.
		out, errs, err = run("lock")
		if err != nil || strings.TrimSpace(out) != "Locked: admin" {
			t.Errorf("lock by %s: %v %q %q", way, err, out, errs)
		}
		if out := strings.TrimSpace(w.must(nil, "status", "--short")); out != "admin:locked work:ok" {
			t.Errorf("status after lock by %s: %q", way, out)
		}
		// status shows every profile unless one is named: MFAD_PROFILE is
		// no filter.
		out, errs, err = run("status")
		if err != nil || !strings.Contains(out, "run `mfad unlock admin`") || (way != "MFAD_PROFILE") == strings.Contains(out, "\nwork ") {
			t.Errorf("status by %s: %v %q %q", way, err, out, errs)
		}
		// Its source's MFA session is valid: no code needed (no terminal here).
		out, errs, err = run("unlock")
		if err != nil || !strings.Contains(out, "Unlocked admin") {
			t.Errorf("unlock by %s: %v %q %q", way, err, out, errs)
		}
	}
	if _, errs, err := w.run(nil, "env", "work", "--profile", "admin"); err == nil || !strings.Contains(errs, "give one") {
		t.Errorf("two profiles: %v %q", err, errs)
	}
	// Removing the role profile leaves its source's session alone.
	w.run(nil, "remove", "admin", "--force")
	if out := strings.TrimSpace(w.must(nil, "status", "--short")); !strings.Contains(out, "work:ok") {
		t.Errorf("status after remove admin: %q", out)
	}
}

// mfad exec exits as shells do when the command cannot run, and starts
// $SHELL when none is given.
func TestExecStatusesAndShell(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	_, errs, err := w.run(nil, "exec", "work", "--", "mfad-no-such-command")
	if exitCode(err) != 127 || !strings.Contains(errs, "mfad-no-such-command") {
		t.Errorf("missing command: exit %d %q", exitCode(err), errs)
	}
	if _, errs, err := w.run(nil, "exec", "work", "--", "/no/such/dir/cmd"); exitCode(err) != 127 || !strings.Contains(errs, "cannot run /no/such/dir/cmd") {
		t.Errorf("missing path: exit %d %q", exitCode(err), errs)
	}
	plain := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, err := w.run(nil, "exec", "work", "--", plain); exitCode(err) != 126 {
		t.Errorf("not executable: exit %d %q", exitCode(err), errs)
	}
	if _, errs, err := w.runEnv([]string{"PATH=" + filepath.Dir(plain) + ":/usr/bin:/bin"}, nil, "exec", "work", "--", "not-executable"); exitCode(err) != 126 {
		t.Errorf("not executable on PATH: exit %d %q", exitCode(err), errs)
	}
	if _, errs, err := w.run(nil, "exec", "work", "--", t.TempDir()); exitCode(err) != 126 {
		t.Errorf("a directory: exit %d %q", exitCode(err), errs)
	}
	// No command: $SHELL, with the profile's credentials.
	script := []byte(`echo "url=$AWS_CONTAINER_CREDENTIALS_FULL_URI"; exit 3` + "\n")
	for _, args := range [][]string{{"exec", "work"}, {"exec", "--profile", "work"}, {"exec"}} {
		extra := []string{"SHELL=/bin/sh", "MFAD_PROFILE=work"}
		out, errs, err := w.runEnv(extra, script, args...)
		if exitCode(err) != 3 || !strings.Contains(out, "url=http://127.0.0.1:") || !strings.Contains(out, "/work") {
			t.Errorf("%v: exit %d %q %q", args, exitCode(err), out, errs)
		}
	}
	// Without SHELL, /bin/sh.
	env := []string{}
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "SHELL=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(w.bin, "exec", "work")
	cmd.Env = env
	cmd.Stdin = strings.NewReader("exit 4\n")
	if err := cmd.Run(); exitCode(err) != 4 {
		t.Errorf("no SHELL: %v", err)
	}
	// A command where the profile goes: the error says how exec reads it.
	if _, errs, err := w.run(nil, "exec", "aws", "s3", "ls"); err == nil || !strings.Contains(errs, "the first argument of mfad exec is the profile") {
		t.Errorf("exec aws s3 ls: %v %q", err, errs)
	}
	// aws-vault's form: the profile, then the command, no --.
	if out := w.must(nil, "exec", "work", "sh", "-c", "echo ok"); strings.TrimSpace(out) != "ok" {
		t.Errorf("exec work sh -c: %q", out)
	}
}

// In the shell mfad sandbox sets up, every command reaches the sandbox's
// daemon and configuration, and lock --all is not a dead end.
func TestSandboxShellRunsEveryCommand(t *testing.T) {
	bin := mfadBinary(t)
	home := t.TempDir()
	cmd := exec.Command(bin, "sandbox")
	cmd.Env = append(os.Environ(), "HOME="+home, "MFAD_CONFIG=", "MFAD_PROFILE=", "MFAD_RUNTIME_DIR=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SafeBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	// The lines to paste into another shell, and the MFA device's URI.
	env := append([]string{}, os.Environ()...)
	env = append(env, "HOME="+home)
	var otpURI string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "otpauth://"); i >= 0 {
			otpURI = line[i:]
		}
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
		if strings.HasPrefix(line, "then:") {
			break
		}
	}
	if otpURI == "" {
		t.Fatalf("no MFA device in the sandbox's output: %s", logs.String())
	}
	run := func(stdin string, args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Env = env
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{
		{"status"}, {"env", "--format", "json"}, {"credential-process"}, {"credential-process", "sandbox-admin"},
		{"lock", "sandbox-admin"}, {"unlock", "sandbox-admin"}, {"lock", "sandbox"}, {"lock", "--all"}, {"list"},
	} {
		if out, err := run("", args...); err != nil || strings.Contains(out, "unknown profile") {
			t.Fatalf("mfad %s in the sandbox: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, _ := run("", "credential-process"); !strings.Contains(out, "locked") {
		t.Fatalf("credential-process after lock --all: %s", out)
	}
	// Back from lock --all with a code of the sandbox's device: the next
	// step's code (AWS accepts one step of drift), as the sandbox used the
	// current one when it started.
	key, err := otp.NewKeyFromURL(otpURI)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(key.Secret(), time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(code+"\n", "unlock", "--code-stdin"); err != nil || !strings.Contains(out, "Unlocked sandbox") {
		t.Fatalf("unlock after lock --all: %v\n%s", err, out)
	}
	if out, err := run("", "credential-process", "--profile", "sandbox-admin"); err != nil || !strings.Contains(out, `"Version":1`) {
		t.Fatalf("credential-process after unlock: %v\n%s", err, out)
	}
}

// A token handed to a shell by eval "$(mfad env)" ends with that shell;
// tokens revoke takes several ids, or --stale.
func TestEnvTokenEndsWithItsShell(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	shell := exec.Command("bash", "-c", `eval "$("$MFAD" env work)"; echo "$$ $AWS_CONTAINER_CREDENTIALS_FULL_URI $AWS_CONTAINER_AUTHORIZATION_TOKEN"; read -r _`)
	shell.Env = append(append([]string{}, w.env...), "MFAD="+w.bin)
	in, err := shell.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := shell.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shell.Process.Kill(); shell.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		t.Fatalf("shell printed %q", line)
	}
	w.check("shell", line)
	url, tok := f[1], f[2]
	if code, err := endpointStatus(url, tok); err != nil || code != 200 {
		t.Fatalf("while the shell runs: %d %v", code, err)
	}
	var list struct {
		Tokens []struct {
			ID       string
			Kind     string
			WatchPID int `json:"watch_pid"`
		}
	}
	if err := json.Unmarshal([]byte(w.must(nil, "tokens", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	shellToken := ""
	for _, tk := range list.Tokens {
		if tk.Kind == "env" && strconv.Itoa(tk.WatchPID) == f[0] {
			shellToken = tk.ID
		}
	}
	if shellToken == "" {
		t.Fatalf("tokens %+v, shell pid %s", list.Tokens, f[0])
	}
	in.Close()
	shell.Wait()
	testenv.WaitFor(t, "the token of the exited shell to be refused", func() bool {
		code, err := endpointStatus(url, tok)
		return err == nil && code == 403
	})
	if out := w.must(nil, "tokens", "list"); strings.Contains(out, shellToken) {
		t.Fatalf("revoked token still listed:\n%s", out)
	}

	// Tokens that last until revoked, revoked several at once.
	var ids []string
	for range 3 {
		var env map[string]string
		if err := json.Unmarshal([]byte(w.must(nil, "env", "work", "--pid", "0", "--format", "json")), &env); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, filepath.Base(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]))
	}
	if out := w.must(nil, append([]string{"tokens", "revoke"}, ids[:2]...)...); strings.Count(out, "Revoked token") != 2 {
		t.Fatalf("revoke two: %q", out)
	}
	if out := w.must(nil, "tokens", "revoke", "--stale"); !strings.Contains(out, "No stale tokens") {
		t.Fatalf("revoke --stale: %q", out)
	}
	if out := w.must(nil, "tokens", "list"); !strings.Contains(out, ids[2]) || strings.Contains(out, ids[0]) {
		t.Fatalf("after revoking: %s", out)
	}
	if _, errs, err := w.run(nil, "tokens", "revoke"); err == nil || !strings.Contains(errs, "--stale") {
		t.Fatalf("revoke with nothing: %v %q", err, errs)
	}
}

// In the shell of `mfad sandbox -- CMD`, lock --all is not a dead end
// either: unlock takes the code from the sandbox's TOTP source, a new one
// each time (the emulator accepts each code once), without waiting for the
// next 30-second step: the sandbox's virtual device moves to it.
func TestSandboxCommandRecoversFromLockAll(t *testing.T) {
	bin := mfadBinary(t)
	cmd := exec.Command(bin, "sandbox", "--", "sh", "-c",
		`set -e; "$MFAD" lock --all; "$MFAD" status --short; "$MFAD" unlock </dev/null; "$MFAD" lock --all; "$MFAD" unlock </dev/null; "$MFAD" credential-process sandbox-admin; "$MFAD" env --format json`)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "MFAD="+bin, "MFAD_CONFIG=", "MFAD_PROFILE=", "MFAD_RUNTIME_DIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"sandbox:locked sandbox-admin:locked", "Unlocked sandbox", `"Version":1`, "/v1/credentials/sandbox"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "Unlocked sandbox"); n != 2 {
		t.Errorf("unlocked %d times, want 2:\n%s", n, out)
	}
}
