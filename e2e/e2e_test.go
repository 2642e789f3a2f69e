// Package e2e runs the built mfad binary as users do: a daemon, the CLI
// talking to it over the control socket, and real AWS clients — the AWS SDK
// for Go and the Debian AWS CLI — fetching credentials from its endpoint.
// STS is the embedded emulator, on the real clock.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// mfadBinary builds cmd/mfad once per test run.
func mfadBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mfad-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mfad")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/mfad").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// world is one test's emulator, home directory and environment.
type world struct {
	t       *testing.T
	bin     string
	emu     *stsemu.Server
	user    stsemu.User
	roleARN string
	home    string
	runDir  string
	env     []string
	secrets []string
	daemon  *exec.Cmd
	cfgPath string
	logs    *testenv.SafeBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldBackend(t, keyringBackend())
}

// newWorldBackend is newWorld with the keystore backend named.
func newWorldBackend(t *testing.T, backend string) *world {
	t.Helper()
	return newWorldEmu(t, backend, stsemu.Options{})
}

// newWorldEmu is newWorldBackend with the emulator's options given (its
// clock, for one).
func newWorldEmu(t *testing.T, backend string, emuOpts stsemu.Options) *world {
	t.Helper()
	w := &world{t: t, bin: mfadBinary(t), logs: &testenv.SafeBuffer{}}
	var err error
	if w.emu, err = stsemu.Start(emuOpts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.emu.Close() })
	if w.user, err = w.emu.AddUser("alice"); err != nil {
		t.Fatal(err)
	}
	w.roleARN = w.emu.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	w.home = t.TempDir()
	w.runDir = filepath.Join(t.TempDir(), "run")
	cfg := fmt.Sprintf(`sts_endpoint: %s
keyring:
  backend: %s
profiles:
  work:
    mfa_serial: %s
    region: eu-west-1
  admin:
    role_arn: %s
    source_profile: work
    region: eu-west-1
`, w.emu.URL, backend, w.user.MFASerial, w.roleARN)
	cfgPath := filepath.Join(w.home, "mfad.yaml")
	w.cfgPath = cfgPath
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = []string{
		"HOME=" + w.home,
		"PATH=" + os.Getenv("PATH"),
		"MFAD_CONFIG=" + cfgPath,
		"MFAD_RUNTIME_DIR=" + w.runDir,
		// t.TempDir's own name (001) repeats across tests: its parent's,
		// which names the test, tells parallel tests' keyrings apart.
		"MFAD_KEYRING_SERVICE=mfad-e2e-" + filepath.Base(filepath.Dir(w.home)) + "-" + filepath.Base(w.home),
		"MFAD_FILE_PASSPHRASE=e2e passphrase",
		"MFAD_AUDIT_LOG=" + filepath.Join(w.home, "audit.log"),
		"AWS_CONFIG_FILE=" + filepath.Join(w.home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(w.home, "aws-credentials"),
		"AWS_ENDPOINT_URL_STS=" + w.emu.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "TMPDIR", "GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOTOOLCHAIN"} {
		if v, ok := os.LookupEnv(k); ok {
			w.env = append(w.env, k+"="+v)
		}
	}
	if v := os.Getenv("GOCACHE"); v == "" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			w.env = append(w.env, "GOCACHE="+strings.TrimSpace(string(out)))
		}
	}
	w.secrets = []string{w.user.SecretAccessKey, w.user.TOTPSecret}
	t.Cleanup(func() { w.run(nil, "remove", "work", "--force") })
	return w
}

// keyringBackend is os when a Secret Service is reachable (scripts/test
// provides one), else the encrypted file.
func keyringBackend() string {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return "os"
	}
	return "file"
}

// run runs mfad with args; stdin may be nil.
func (w *world) run(stdin []byte, args ...string) (stdout, stderr string, err error) {
	return w.runEnv(nil, stdin, args...)
}

func (w *world) runEnv(extra []string, stdin []byte, args ...string) (string, string, error) {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = append(append([]string{}, w.env...), extra...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	w.check("mfad "+args[0]+" stdout", out.String())
	w.check("mfad "+args[0]+" stderr", errb.String())
	return out.String(), errb.String(), err
}

func (w *world) must(stdin []byte, args ...string) string {
	w.t.Helper()
	out, errs, err := w.run(stdin, args...)
	if err != nil {
		w.t.Fatalf("mfad %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// envVars returns what `mfad env --profile PROFILE --format json` prints.
func (w *world) envVars(profile string) map[string]string {
	w.t.Helper()
	var env map[string]string
	if err := json.Unmarshal([]byte(w.must(nil, "env", "--profile", profile, "--format", "json")), &env); err != nil {
		w.t.Fatal(err)
	}
	return env
}

// endpointStatus fetches url with token, as an SDK does, and returns the
// status; the body is read and discarded.
func endpointStatus(url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// check fails the test when text holds a long-term secret.
func (w *world) check(what, text string) {
	testenv.AssertNoSecret(w.t, what, text, w.secrets...)
}

// startDaemon starts `mfad daemon` and waits for its control socket.
func (w *world) startDaemon() {
	w.t.Helper()
	w.startDaemonEnv(w.env)
}

// startDaemonEnv starts `mfad daemon` with env, with no terminal, and
// waits for its control socket.
func (w *world) startDaemonEnv(env []string) {
	w.t.Helper()
	cmd := exec.Command(w.bin, "daemon", "--log-level", "debug")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.daemon = cmd
	w.t.Cleanup(w.stopDaemon)
	testenv.WaitFor(w.t, "the daemon to answer", func() bool {
		if cmd.ProcessState != nil {
			w.t.Fatalf("the daemon exited: %s", w.logs.String())
		}
		out, _, err := w.run(nil, "status", "--json")
		return err == nil && strings.Contains(out, fmt.Sprintf(`"pid": %d`, cmd.Process.Pid))
	})
}

func (w *world) stopDaemon() {
	if w.daemon == nil {
		return
	}
	w.daemon.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- w.daemon.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.daemon.Process.Kill()
		<-done
	}
	w.daemon = nil
	w.check("daemon log", w.logs.String())
}

// addAndUnlock stores alice's key and unlocks work with a fresh code.
func (w *world) addAndUnlock() {
	w.t.Helper()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code)
	out := w.must([]byte(code+"\n"), "unlock", "work", "--code-stdin")
	if !strings.Contains(out, "Unlocked work") {
		w.t.Fatalf("unlock said %q", out)
	}
}

// sdkIdentity is what the helper process prints.
type sdkIdentity struct {
	Arn, AccessKeyID, Source string
	Expires                  time.Time
}

// TestHelperSDKClient is not a test: run as a child by `mfad exec`, it
// loads the default AWS configuration like any Go program and prints what
// it resolved.
func TestHelperSDKClient(t *testing.T) {
	if os.Getenv("MFAD_E2E_HELPER") != "1" {
		t.Skip("helper process for the end-to-end tests")
	}
	ctx := context.Background()
	cfg, creds := sdkCredentials(ctx)
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	json.NewEncoder(os.Stdout).Encode(sdkIdentity{Arn: *out.Arn, AccessKeyID: creds.AccessKeyID, Source: creds.Source, Expires: creds.Expires})
	os.Exit(0)
}

// sdkCredentials loads the default AWS configuration and retrieves
// credentials as any Go program does, exiting 3 or 4 when it cannot (for
// the helper processes).
func sdkCredentials(ctx context.Context) (aws.Config, aws.Credentials) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	return cfg, creds
}

func helperArgs() []string {
	exe, _ := os.Executable()
	return []string{"env", "MFAD_E2E_HELPER=1", exe, "-test.run=^TestHelperSDKClient$"}
}

func parseIdentity(t *testing.T, out string) sdkIdentity {
	t.Helper()
	var id sdkIdentity
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatalf("helper printed %q: %v", out, err)
	}
	return id
}

func TestGoSDKThroughExecAndEnv(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()

	// mfad exec: the child's SDK finds the endpoint with no code change.
	out := w.must(nil, append([]string{"exec", "--profile", "work", "--"}, helperArgs()...)...)
	id := parseIdentity(t, out)
	if id.Arn != w.user.ARN || !strings.HasPrefix(id.AccessKeyID, "ASIA") || id.Source != "CredentialsEndpointProvider" {
		t.Fatalf("exec: %+v", id)
	}
	if time.Until(id.Expires) < 11*time.Hour {
		t.Fatalf("exec: credentials expire %v", id.Expires)
	}
	// The role profile, assumed from work's MFA session without a new code.
	out = w.must(nil, append([]string{"exec", "--profile", "admin", "--"}, helperArgs()...)...)
	if id := parseIdentity(t, out); !strings.Contains(id.Arn, ":assumed-role/admin/") {
		t.Fatalf("exec admin: %+v", id)
	}

	// eval "$(mfad env)" in bash.
	script := fmt.Sprintf(`set -e; eval "$(%q env --profile work)"; test -z "${AWS_ACCESS_KEY_ID:-}"; test -s "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"; exec %s`,
		w.bin, strings.Join(quoteAll(helperArgs()), " "))
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(append([]string{}, w.env...), "AWS_ACCESS_KEY_ID=AKIASHADOWSHADOWSHAD", "AWS_PROFILE=shadow")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("eval env: %v\n%s", err, b)
	}
	if id := parseIdentity(t, string(b)); id.Arn != w.user.ARN {
		t.Fatalf("env: %+v", id)
	}
	// zsh, when installed.
	if zsh, err := exec.LookPath("zsh"); err == nil {
		cmd := exec.Command(zsh, "-c", script)
		cmd.Env = w.env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zsh eval env: %v\n%s", err, b)
		}
	}
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// TestDebianAWSCLI uses the AWS CLI v2 that .ci/run installs.
func TestDebianAWSCLI(t *testing.T) {
	const aws = "/usr/bin/aws"
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run installs awscli", aws)
		}
		t.Skipf("%s not installed (apt-get install awscli)", aws)
	}
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	for _, profile := range []string{"work", "admin"} {
		out := w.must(nil, "exec", "--profile", profile, "--", aws, "configure", "export-credentials", "--format", "process")
		var p struct {
			Version                                    int
			AccessKeyId, SecretAccessKey, SessionToken string
			Expiration                                 string
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil || p.Version != 1 || !strings.HasPrefix(p.AccessKeyId, "ASIA") || p.SessionToken == "" {
			t.Fatalf("%s: export-credentials printed %q (%v)", profile, out, err)
		}
		// A real call signed with those credentials (the CLI 2.9 needs
		// --endpoint-url; AWS_ENDPOINT_URL_STS arrived in 2.13).
		out = w.must(nil, "exec", "--profile", profile, "--", aws, "sts", "get-caller-identity", "--endpoint-url", w.emu.URL, "--output", "json")
		if !strings.Contains(out, `"Account": "123456789012"`) {
			t.Fatalf("%s: get-caller-identity printed %q", profile, out)
		}
	}
	// Through eval "$(mfad env)".
	cmd := exec.Command("bash", "-c", fmt.Sprintf(`set -e; eval "$(%q env --profile work)"; %s configure export-credentials --format process`, w.bin, aws))
	cmd.Env = w.env
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), `"Version": 1`) {
		t.Fatalf("eval env + aws: %v\n%s", err, b)
	}
}

func TestCredentialProcess(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	out := w.must(nil, "credential-process", "--profile", "admin")
	var p struct {
		Version                                    int
		AccessKeyId, SecretAccessKey, SessionToken string
		Expiration                                 time.Time
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Version != 1 || p.SecretAccessKey == "" || time.Until(p.Expiration) < 30*time.Minute {
		t.Fatalf("credential-process printed %q (%v)", out, err)
	}
}

func TestEndpointRefusals(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	env := w.envVars("work")
	get := func(url, token string) (int, map[string]string, time.Duration) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return resp.StatusCode, body, time.Since(start)
	}
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	if code, body, _ := get(url, ""); code != 403 || body["code"] == "" || body["AccessKeyId"] != "" {
		t.Fatalf("no token: %d %v", code, body)
	}
	last := "x"
	if strings.HasSuffix(tok, "x") {
		last = "y"
	}
	if code, _, _ := get(url, tok[:len(tok)-1]+last); code != 403 {
		t.Fatalf("wrong token: %d", code)
	}
	// Locked: a fast, clear error, never a wait for a person.
	code, body, took := get(url, tok)
	if code != 423 || body["code"] != "ProfileLocked" || !strings.Contains(body["message"], "mfad unlock work") || took > 2*time.Second {
		t.Fatalf("locked: %d %v after %v", code, body, took)
	}
	if code, _, _ := get(strings.TrimSuffix(url, "work")+"nope", tok); code != 404 {
		t.Fatalf("unknown profile: %d", code)
	}
	// The profile token is for work only.
	if code, _, _ := get(strings.TrimSuffix(url, "work")+"admin", tok); code != 403 {
		t.Fatalf("other profile: %d", code)
	}
}

func TestNoDaemon(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{{"status"}, {"env", "--profile", "work"}, {"exec", "--profile", "work", "--", "true"}, {"credential-process", "--profile", "work"}} {
		_, errs, err := w.run(nil, args...)
		if err == nil || !strings.Contains(errs, "mfad daemon") {
			t.Fatalf("mfad %s without a daemon: %v %q", args[0], err, errs)
		}
	}
	// status --short stays quiet for shell prompts.
	if out, _, err := w.run(nil, "status", "--short"); err != nil || out != "" {
		t.Fatalf("status --short: %v %q", err, out)
	}
}

func TestRestartNeedsNoNewCode(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	before := len(w.emu.Calls())
	w.stopDaemon()
	w.startDaemon()
	out := w.must(nil, "credential-process", "--profile", "work")
	if !strings.Contains(out, `"Version":1`) {
		t.Fatalf("after restart: %q", out)
	}
	for _, c := range w.emu.Calls()[before:] {
		if c.Action == "GetSessionToken" {
			t.Fatal("the restart asked STS for a new MFA session")
		}
	}
	w.must(nil, "lock", "work")
	if _, errs, err := w.run(nil, "credential-process", "--profile", "work"); err == nil || !strings.Contains(errs, "locked") {
		t.Fatalf("after lock: %v %q", err, errs)
	}
	// exec with no terminal fails before running the command.
	marker := filepath.Join(w.home, "ran")
	if _, errs, err := w.run(nil, "exec", "--profile", "admin", "--", "touch", marker); err == nil || !strings.Contains(errs, "mfad unlock work") {
		t.Fatalf("exec on a locked profile: %v %q", err, errs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("exec ran the command on a locked profile")
	}
}

func TestExecExitStatusAndTokenRevocation(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	_, _, err := w.run(nil, "exec", "--profile", "work", "--", "sh", "-c", "exit 7")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("exit status: %v", err)
	}
	// The child's token stops working once it exits.
	out := w.must(nil, "exec", "--profile", "work", "--", "sh", "-c", `printf '%s %s' "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN"`)
	url, tok, _ := strings.Cut(out, " ")
	testenv.WaitFor(t, "revocation", func() bool {
		code, err := endpointStatus(url, tok)
		return err == nil && code == 403
	})
}

func TestSandboxRunsACommand(t *testing.T) {
	bin := mfadBinary(t)
	for _, profile := range []string{"sandbox", "sandbox-admin"} {
		exe, _ := os.Executable()
		cmd := exec.Command(bin, "sandbox", "--profile", profile, "--", exe, "-test.run=^TestHelperSDKClient$")
		cmd.Env = append(os.Environ(), "MFAD_E2E_HELPER=1", "HOME="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sandbox %s: %v", profile, err)
		}
		id := parseIdentity(t, string(out))
		want := ":user/sandbox-user"
		if profile == "sandbox-admin" {
			want = ":assumed-role/sandbox-admin/"
		}
		if !strings.Contains(id.Arn, want) {
			t.Fatalf("sandbox %s: %+v", profile, id)
		}
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		cmd := exec.Command(bin, "sandbox", "--", "aws", "sts", "get-caller-identity")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "PATH=/usr/bin:/bin")
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "sandbox-user") {
			t.Fatalf("sandbox -- aws sts get-caller-identity: %v %s", err, out)
		}
	}
}
