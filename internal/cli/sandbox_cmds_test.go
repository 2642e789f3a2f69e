package cli

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
)

// sandboxWorld is a sandbox started in-process, and a way to run mfad
// commands in the shell it sets up.
type sandboxWorld struct {
	t    *testing.T
	sb   *sandbox
	env  map[string]string
	logs *testenv.SafeBuffer
}

func startTestSandbox(t *testing.T) *sandboxWorld {
	t.Helper()
	home := t.TempDir()
	w := &sandboxWorld{t: t, logs: &testenv.SafeBuffer{}}
	app := &App{Stdin: strings.NewReader(""), Stdout: w.logs, Stderr: w.logs, Getenv: func(k string) string {
		switch k {
		case "HOME":
			return home
		case "PATH":
			return os.Getenv("PATH")
		}
		return ""
	}}
	ctx, cancel := context.WithCancel(context.Background())
	sb, err := startSandbox(ctx, app)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sb.close()
		if t.Failed() {
			t.Logf("sandbox log:\n%s", w.logs.String())
		}
	})
	w.sb = sb
	w.env = map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config")}
	for _, v := range sb.extraVars(os.Getenv("PATH")) {
		w.env[v[0]] = v[1]
	}
	return w
}

// mfad runs an mfad command as the sandbox's shell would.
func (w *sandboxWorld) mfad(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return w.env[k] }}
	root := NewRoot(app)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func (w *sandboxWorld) must(args ...string) string {
	w.t.Helper()
	out, errs, err := w.mfad(args...)
	if err != nil {
		w.t.Fatalf("mfad %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// awsCLI runs the Debian AWS CLI with only the given variables (and a
// scratch HOME), skipping the test when it is not installed.
func awsCLI(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	const aws = "/usr/bin/aws"
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run installs awscli", aws)
		}
		t.Skipf("%s not installed (apt-get install awscli)", aws)
	}
	cmd := exec.Command(aws, args...)
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"), "AWS_EC2_METADATA_DISABLED=true"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// parseEnvFile reads KEY=value lines.
func parseEnvFile(t *testing.T, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not KEY=value: %q", line)
		}
		m[k] = v
	}
	return m
}

func TestSandboxExportForTheAWSCLI(t *testing.T) {
	w := startTestSandbox(t)
	out, stderr, err := w.mfad("export", "sandbox", "--format", "env")
	if err != nil {
		t.Fatalf("export: %v %s", err, stderr)
	}
	if !strings.Contains(stderr, "nothing refreshes") {
		t.Errorf("export warned %q; want a word that the copy is not refreshed", stderr)
	}
	vars := parseEnvFile(t, out)
	if !strings.HasPrefix(vars["AWS_ACCESS_KEY_ID"], "ASIA") || vars["AWS_SESSION_TOKEN"] == "" || vars["AWS_CREDENTIAL_EXPIRATION"] == "" || vars["AWS_REGION"] != "us-east-1" {
		t.Fatalf("export printed %q", out)
	}
	id := awsCLI(t, vars, "sts", "get-caller-identity", "--endpoint-url", w.sb.emu.URL, "--output", "json")
	if !strings.Contains(id, ":user/sandbox-user") {
		t.Fatalf("aws sts get-caller-identity with the exported credentials: %s", id)
	}

	// The other formats carry the same credentials.
	for format, want := range map[string]string{
		exportExportEnv: "export AWS_SESSION_TOKEN='" + vars["AWS_SESSION_TOKEN"] + "'",
		exportJSON:      `"SessionToken": "` + vars["AWS_SESSION_TOKEN"] + `"`,
		exportINI:       "[sandbox-admin]\n",
	} {
		profile := "sandbox"
		if format == exportINI {
			profile = "sandbox-admin"
		}
		if got := w.must("export", "--profile", profile, "--format", format); !strings.Contains(got, want) {
			t.Errorf("export --format %s printed %q; want %q in it", format, got, want)
		}
	}
	if _, _, err := w.mfad("export", "sandbox", "--format", "yaml"); err == nil || !strings.Contains(err.Error(), "env, export-env, json or ini") {
		t.Errorf("export --format yaml: %v", err)
	}
	if _, _, err := w.mfad("export", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("export nosuch: %v", err)
	}
}

// client connects to the sandbox daemon's control socket.
func (w *sandboxWorld) client() *ipc.Client {
	w.t.Helper()
	c, err := ipc.Dial(context.Background(), ipc.SocketPath(w.sb.dir))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

func TestSandboxRotate(t *testing.T) {
	w := startTestSandbox(t)
	old := w.sb.user.AccessKeyID
	if out := w.must("list"); !strings.Contains(out, old) {
		t.Fatalf("list before the rotation:\n%s", out)
	}

	// A client keeps fetching credentials while the key is rotated.
	ctx := context.Background()
	c := w.client()
	env, err := c.Env(ctx, ipc.EnvRequest{Profile: "sandbox-admin", Label: "test"})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	fetched := make(chan []int, 1)
	go func() {
		var codes []int
		for {
			select {
			case <-stop:
				fetched <- codes
				return
			default:
			}
			code, err := fetchStatus(env.URL, env.Token)
			if err != nil {
				code = -1
			}
			codes = append(codes, code)
		}
	}()
	out, stderr, rerr := w.mfad("rotate", "sandbox")
	close(stop)
	codes := <-fetched
	if rerr != nil {
		t.Fatalf("rotate: %v\n%s%s", rerr, out, stderr)
	}
	for _, c := range codes {
		if c != 200 {
			t.Fatalf("a fetch during the rotation answered %d (all: %v)", c, codes)
		}
	}
	if len(codes) == 0 {
		t.Fatal("no fetch happened during the rotation")
	}
	keys := w.sb.emu.AccessKeys(w.sb.user.Name)
	if len(keys) != 1 || keys[0].ID == old || !strings.Contains(out, keys[0].ID) {
		t.Fatalf("rotate printed %q; keys in the emulator: %+v", out, keys)
	}
	newID := keys[0].ID
	list := w.must("list")
	if !strings.Contains(list, newID) || strings.Contains(list, old) || !strings.Contains(list, "0d old") {
		t.Fatalf("list after the rotation:\n%s", list)
	}

	// A new unlock uses the new key, and the AWS CLI gets credentials.
	if _, err := c.Lock(ctx, ipc.LockRequest{Profile: "sandbox"}); err != nil {
		t.Fatal(err)
	}
	code := w.sb.emu.Code(w.sb.user, time.Now().Add(30*time.Second))
	if _, err := c.Unlock(ctx, ipc.UnlockRequest{Profile: "sandbox", Code: code}); err != nil {
		t.Fatalf("unlock after the rotation: %v", err)
	}
	var gst []stsemu.Call
	for _, c := range w.sb.emu.Calls() {
		if c.Action == "GetSessionToken" {
			gst = append(gst, c)
		}
	}
	if last := gst[len(gst)-1]; last.AccessKeyID != newID || last.ErrorCode != "" {
		t.Fatalf("the unlock's GetSessionToken: %+v", last)
	}
	if env, err = c.Env(ctx, ipc.EnvRequest{Profile: "sandbox", Label: "test"}); err != nil {
		t.Fatal(err)
	}
	id := awsCLI(t, map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": env.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN": env.Token, "AWS_REGION": "us-east-1"},
		"sts", "get-caller-identity", "--endpoint-url", w.sb.emu.URL, "--output", "json")
	if !strings.Contains(id, ":user/sandbox-user") {
		t.Fatalf("aws sts get-caller-identity after the new unlock: %s", id)
	}
}

func TestSandboxRotateAtTheKeyLimit(t *testing.T) {
	w := startTestSandbox(t)
	second, _, err := w.sb.emu.AddAccessKey(w.sb.user.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = w.mfad("rotate", "--profile", "sandbox")
	if err == nil || !strings.Contains(err.Error(), "two access keys") || !strings.Contains(err.Error(), second) {
		t.Fatalf("rotate at the limit: %v", err)
	}
	if n := len(w.sb.emu.AccessKeys(w.sb.user.Name)); n != 2 {
		t.Fatalf("%d keys after a refused rotation", n)
	}
	for _, c := range w.sb.emu.Calls() {
		if c.Action == "CreateAccessKey" {
			t.Fatal("a key was created")
		}
	}
}

// fetchStatus fetches a credentials URL with a token, as an SDK does.
func fetchStatus(url, token string) (int, error) {
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
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestSandboxLogin(t *testing.T) {
	w := startTestSandbox(t)
	out, stderr, err := w.mfad("login", "sandbox-admin", "--stdout")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, stderr)
	}
	u := strings.TrimSpace(out)
	info, ok := w.sb.emu.CheckLoginURL(u)
	if !ok || !strings.HasSuffix(info.RoleARN, ":role/sandbox-admin") {
		t.Fatalf("the emulator refuses the sign-in URL %q: %+v", u, info)
	}
	if !strings.HasPrefix(u, w.sb.emu.URL+stsemu.FederationPath+"?") || !strings.Contains(u, "Action=login") ||
		!strings.Contains(u, "Issuer=") || !strings.Contains(u, "Destination=https%3A%2F%2Fus-east-1.console.aws.amazon.com%2Fconsole%2Fhome%3Fregion%3Dus-east-1") {
		t.Errorf("sign-in URL %q", u)
	}
	// The browser's request: a redirect to the console.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != info.Destination {
		t.Fatalf("login answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A tampered token is refused.
	if _, ok := w.sb.emu.CheckLoginURL(strings.Replace(u, "SigninToken=", "SigninToken=x", 1)); ok {
		t.Error("a tampered token was accepted")
	}

	// --duration assumes a role session of that length for the console.
	out = w.must("login", "sandbox-admin", "--stdout", "--duration", "30m", "--path", "s3/home")
	info, ok = w.sb.emu.CheckLoginURL(strings.TrimSpace(out))
	if left := time.Until(info.ConsoleSessionEnd); !ok || left > 30*time.Minute || left < 28*time.Minute || !strings.Contains(info.Destination, "/s3/home?region=us-east-1") {
		t.Fatalf("login --duration 30m: %+v (%v left)", info, left)
	}
	for args, want := range map[string]string{
		"login sandbox --stdout":                                   "GetFederationToken",
		"login sandbox-admin --stdout --duration 2h":               "15m to 1h",
		"login sandbox-admin --stdout --path https://example.com/": "console path",
	} {
		_, _, err := w.mfad(strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mfad %s: %v; want %q in it", args, err, want)
		}
	}
	testenv.AssertNoSecret(t, "the sandbox log", w.logs.String(), u[strings.Index(u, "SigninToken=")+len("SigninToken="):])
}

// TestLoginOpensTheBrowserWithoutTheURLInArguments: the browser opener is
// given a private file that redirects to the sign-in URL, never the URL.
func TestLoginOpensTheBrowserWithoutTheURLInArguments(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses a /bin/sh stand-in for xdg-open")
	}
	w := startTestSandbox(t)
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >'"+argsFile+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out := w.must("login", "sandbox-admin")
	if !strings.Contains(out, "Opened the AWS console as") {
		t.Fatalf("login printed %q", out)
	}
	args := strings.TrimSpace(readTestFile(t, argsFile))
	if strings.Contains(args, "SigninToken") || !strings.HasPrefix(args, w.sb.dir) {
		t.Fatalf("xdg-open was given %q", args)
	}
	st, err := os.Stat(args)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the redirect file: %v %v", st, err)
	}
	page := readTestFile(t, args)
	i := strings.Index(page, "url=")
	j := strings.Index(page[i:], `"`)
	u := html.UnescapeString(page[i+len("url=") : i+j])
	if _, ok := w.sb.emu.CheckLoginURL(u); !ok {
		t.Fatalf("the redirect file leads to %q, which the emulator refuses", u)
	}
}
