package stsemu_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// awsCLI is the Debian AWS CLI v2; other "aws" binaries on PATH may be the
// v1 CLI.
const awsCLI = "/usr/bin/aws"

type cliCreds struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// runAWS runs the AWS CLI against the emulator with an isolated
// configuration and the given credentials, and decodes its JSON output.
func runAWS(t *testing.T, srv *stsemu.Server, c cliCreds, out any, args ...string) {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("AWS CLI v2 not available at %s: %v", awsCLI, err)
	}
	// AWS_ENDPOINT_URL_STS needs CLI 2.13+; --endpoint-url is passed too so
	// that older CLIs never reach the real service.
	full := append(append([]string{}, args...), "--endpoint-url", srv.URL, "--output", "json")
	cmd := exec.CommandContext(ctx(t), awsCLI, full...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_ENDPOINT_URL_STS=" + srv.URL,
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_REGION=" + testRegion,
		"AWS_DEFAULT_REGION=" + testRegion,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1",
	}
	if c.SessionToken != "" {
		cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+c.SessionToken)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("aws %s: decode output %q: %v", strings.Join(args, " "), stdout, err)
	}
}

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("AWS CLI v2 not available at %s: %v", awsCLI, err)
	}
	// The CLI signs with the real time: use the real clock.
	srv, err := stsemu.Start(stsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	u, err := srv.AddUser("alice")
	if err != nil {
		t.Fatal(err)
	}
	long := cliCreds{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}

	var id struct{ UserId, Account, Arn string }
	runAWS(t, srv, long, &id, "sts", "get-caller-identity")
	if id.Arn != u.ARN || id.Account != "123456789012" || !strings.HasPrefix(id.UserId, "AIDA") {
		t.Errorf("get-caller-identity = %+v", id)
	}

	var gst struct {
		Credentials struct {
			AccessKeyId, SecretAccessKey, SessionToken, Expiration string
		}
	}
	runAWS(t, srv, long, &gst, "sts", "get-session-token", "--duration-seconds", "3600",
		"--serial-number", u.MFASerial, "--token-code", srv.Code(u, time.Now()))
	exp, err := time.Parse(time.RFC3339, gst.Credentials.Expiration)
	if err != nil {
		t.Fatalf("Expiration %q: %v", gst.Credentials.Expiration, err)
	}
	if d := time.Until(exp); d < 59*time.Minute || d > time.Hour {
		t.Errorf("Expiration %v is not an hour away", exp)
	}
	info, ok := srv.SessionInfo(gst.Credentials.AccessKeyId)
	if !ok || !info.MFAAuthenticated {
		t.Fatalf("session %q not MFA-authenticated: %+v", gst.Credentials.AccessKeyId, info)
	}

	// The CLI signs X-Amz-Security-Token with temporary credentials.
	sess := cliCreds{gst.Credentials.AccessKeyId, gst.Credentials.SecretAccessKey, gst.Credentials.SessionToken}
	runAWS(t, srv, sess, &id, "sts", "get-caller-identity")
	if id.Arn != u.ARN {
		t.Errorf("get-caller-identity with session credentials = %+v", id)
	}

	roleARN := srv.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	var ar struct {
		AssumedRoleUser struct{ Arn, AssumedRoleId string }
		Credentials     struct{ AccessKeyId string }
	}
	runAWS(t, srv, sess, &ar, "sts", "assume-role", "--role-arn", roleARN, "--role-session-name", "alice-cli")
	if ar.AssumedRoleUser.Arn != "arn:aws:sts::123456789012:assumed-role/admin/alice-cli" {
		t.Errorf("assume-role = %+v", ar)
	}

	for _, c := range srv.Calls() {
		if c.Status != 200 {
			t.Errorf("call failed: %+v", c)
		}
	}
	if n := len(srv.Calls()); n != 4 {
		t.Errorf("%d calls reached the emulator, want 4", n)
	}
}
