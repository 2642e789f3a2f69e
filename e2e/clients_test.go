package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// client is an AWS SDK in another language, run as an ordinary program.
type client struct {
	name string
	args []string
	// ready says why the client cannot run here, or "".
	ready func() string
}

func otherSDKs(t *testing.T) []client {
	jsDir, _ := filepath.Abs("clients/js")
	pyDir, _ := filepath.Abs("clients/python")
	return []client{
		{name: "javascript-v3", args: []string{"node", filepath.Join(jsDir, "client.mjs")}, ready: func() string {
			if _, err := exec.LookPath("node"); err != nil {
				return "node is not installed"
			}
			if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "client-sts")); err != nil {
				return "the JavaScript SDK is not installed: run `npm ci` in e2e/clients/js"
			}
			return ""
		}},
		{name: "python-boto3", args: []string{"/usr/bin/python3", filepath.Join(pyDir, "client.py")}, ready: func() string {
			if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
				return "boto3 is not installed for /usr/bin/python3 (apt-get install python3-boto3)"
			}
			return ""
		}},
	}
}

// TestOtherLanguageSDKs fetches credentials with the AWS SDKs for
// JavaScript (v3) and Python (boto3), through mfad exec and through
// eval "$(mfad env)", for an MFA session and a role profile.
func TestOtherLanguageSDKs(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	for _, c := range otherSDKs(t) {
		t.Run(c.name, func(t *testing.T) {
			if why := c.ready(); why != "" {
				if os.Getenv("CI") != "" {
					t.Fatal(why + ": .ci/run installs it")
				}
				t.Skip(why)
			}
			for _, profile := range []string{"work", "admin"} {
				out := w.must(nil, append([]string{"exec", "--profile", profile, "--"}, c.args...)...)
				id := parseIdentity(t, out)
				want := w.user.ARN
				if profile == "admin" {
					want = ":assumed-role/admin/"
				}
				if !strings.Contains(id.Arn, want) || !strings.HasPrefix(id.AccessKeyID, "ASIA") {
					t.Fatalf("%s %s: %+v", c.name, profile, id)
				}
				if left := time.Until(id.Expires); left < 15*time.Minute {
					t.Fatalf("%s %s: credentials expire in %v", c.name, profile, left)
				}
			}
			cmd := exec.Command("bash", append([]string{"-c", `set -e; eval "$("$MFAD" env --profile work)"; exec "$@"`, "sh"}, c.args...)...)
			cmd.Env = append(append([]string{}, w.env...), "MFAD="+w.bin)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s via env: %v", c.name, err)
			}
			if id := parseIdentity(t, string(out)); id.Arn != w.user.ARN {
				t.Fatalf("%s via env: %+v", c.name, id)
			}
		})
	}
}
