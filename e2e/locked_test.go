package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingProxy forwards to the daemon's endpoint and counts requests; it
// listens on 127.0.0.1 like the endpoint, so that every SDK accepts it.
func countingProxy(t *testing.T, endpoint string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// SetURL also sets Host to the target's: the endpoint answers its own
	// address only.
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	var n atomic.Int32
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestLockedProfileFailsFastInEverySDK runs each SDK against a locked
// profile: the Go SDK makes one request per call; the others make no more
// than their sources do for any error (botocore and the AWS CLI 3, the
// JavaScript SDK's default chain 5), and those that show the endpoint's
// message show what to run.
func TestLockedProfileFailsFastInEverySDK(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	env := w.envVars("work")
	base := strings.TrimSuffix(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "/v1/credentials/work")
	proxy, count := countingProxy(t, base)

	exe, _ := os.Executable()
	type sdk struct {
		name string
		args []string
		// max is the requests the SDK's source makes for one failed fetch.
		max int
		// hint: the SDK shows the endpoint's message.
		hint  bool
		ready func() string
	}
	sdks := []sdk{
		{name: "go-v2", args: []string{exe, "-test.run=^TestHelperSDKClient$"}, max: 1, hint: true},
		{name: "aws-cli", args: []string{"/usr/bin/aws", "sts", "get-caller-identity", "--endpoint-url", w.emu.URL}, max: 3, hint: true, ready: func() string {
			if _, err := os.Stat("/usr/bin/aws"); err != nil {
				return "/usr/bin/aws is not installed"
			}
			return ""
		}},
	}
	for _, c := range otherSDKs(t) {
		s := sdk{name: c.name, args: c.args, ready: c.ready, max: 3, hint: true}
		if c.name == "javascript-v3" {
			// fromHttp (1 + 3 retries), then fromContainerMetadata; the
			// chain reports "Could not load credentials from any providers".
			s.max, s.hint = 5, false
		}
		sdks = append(sdks, s)
	}
	for _, s := range sdks {
		t.Run(s.name, func(t *testing.T) {
			if s.ready != nil {
				if why := s.ready(); why != "" {
					if os.Getenv("CI") != "" {
						t.Fatal(why + ": .ci/run installs it")
					}
					t.Skip(why)
				}
			}
			count.Store(0)
			cmd := exec.Command(s.args[0], s.args[1:]...)
			cmd.Env = append(append([]string{}, w.env...),
				"MFAD_E2E_HELPER=1",
				"AWS_REGION=eu-west-1",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI="+proxy.URL+"/v1/credentials/work",
				"AWS_CONTAINER_AUTHORIZATION_TOKEN="+env["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			n := int(count.Load())
			t.Logf("%s: %d requests, failed after %v: %s", s.name, n, took.Round(time.Millisecond), errorLine(string(out)))
			if err == nil {
				t.Fatalf("succeeded on a locked profile: %s", out)
			}
			if n < 1 || n > s.max {
				t.Errorf("%d requests to the endpoint, want 1 to %d", n, s.max)
			}
			if s.hint && !strings.Contains(string(out), "mfad unlock work") {
				t.Errorf("no `mfad unlock work` hint in:\n%s", out)
			}
		})
	}
}

// errorLine is the last line of s that mentions an error, else its last.
func errorLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "rror") {
			return strings.TrimSpace(lines[i])
		}
	}
	return lines[len(lines)-1]
}
