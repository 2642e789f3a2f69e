package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/policy"
)

// policyRun executes `mfad policy ARGS…` and returns its output and error.
func policyRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newPolicyCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// policySeed returns the path of a seed policy fixture.
func policySeed(name string) string {
	return filepath.Join("..", "..", "policy", "testdata", name)
}

func TestPolicyEvalPlain(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		// Seed 000, Bool version: long-term keys slip through, console users without MFA do not.
		{[]string{policySeed("seed000_bool.json"), "--action", "ec2:StopInstances", "--key", "aws:ViaAWSService=false"}, "implicit-deny"},
		{[]string{policySeed("seed000_bool.json"), "--action", "ec2:StopInstances", "--key", "aws:ViaAWSService=false", "--key", "aws:MultiFactorAuthPresent=false"}, "explicit-deny"},
		// BoolIfExists version: long-term keys denied too.
		{[]string{policySeed("seed000_boolifexists.json"), "--action", "ec2:StopInstances", "--key", "aws:ViaAWSService=false"}, "explicit-deny"},
		// Several files together: the Deny of one beats the Allow of another.
		{[]string{policySeed("seed001_example1.json"), policySeed("seed003_deny_all_boolifexists.json"), "--action", "ec2:DescribeInstances", "--key", "aws:MultiFactorAuthPresent=true", "--key", "aws:MultiFactorAuthAge=10"}, "allowed"},
		{[]string{policySeed("seed001_example1.json"), policySeed("seed003_deny_all_boolifexists.json"), "--action", "ec2:DescribeInstances"}, "explicit-deny"},
		{[]string{policySeed("seed001_example3.json"), "--action", "ec2:StopInstances", "--key", "aws:MultiFactorAuthPresent=true", "--key", "aws:MultiFactorAuthAge=3601"}, "explicit-deny"},
		{[]string{policySeed("seed002_selfmanage_boolifexists.json"), "--action", "iam:EnableMFADevice", "--resource", "arn:aws:iam::accountid:user/alice", "--key", "aws:username=alice"}, "allowed"},
		{[]string{policySeed("seed002_selfmanage_boolifexists.json"), "--action", "iam:EnableMFADevice", "--resource", "arn:aws:iam::accountid:user/bob", "--key", "aws:username=alice"}, "implicit-deny"},
	}
	for _, tc := range cases {
		out, err := policyRun(t, append([]string{"eval"}, tc.args...)...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if out != tc.want+"\n" {
			t.Errorf("%v: got %q, want %q", tc.args, out, tc.want)
		}
	}
}

func TestPolicyEvalMultiValuedKeyAndUnknown(t *testing.T) {
	dir := t.TempDir()
	tags := filepath.Join(dir, "tags.json")
	if err := os.WriteFile(tags, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := policyRun(t, "eval", tags, "--action", "ec2:CreateTags", "--key", "aws:TagKeys=a", "--key", "aws:TagKeys=b")
	if err != nil || out != "allowed\n" {
		t.Errorf("got %q %v, want allowed", out, err)
	}
	out, err = policyRun(t, "eval", tags, "--action", "ec2:CreateTags", "--key", "aws:TagKeys=a", "--key", "aws:TagKeys=c")
	if err != nil || out != "implicit-deny\n" {
		t.Errorf("got %q %v, want implicit-deny", out, err)
	}

	odd := filepath.Join(dir, "odd.json")
	if err := os.WriteFile(odd, []byte(`{"Version":"2012-10-17","Statement":{"Sid":"Odd","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"abc"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = policyRun(t, "eval", odd, "--action", "s3:GetObject")
	if err != nil || out != "unknown\n" {
		t.Errorf("got %q %v, want unknown (exit status 0)", out, err)
	}
	out, err = policyRun(t, "eval", odd, "--action", "s3:GetObject", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Decision string   `json:"decision"`
		Reasons  []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Decision != "unknown" || len(got.Reasons) != 1 || !strings.Contains(got.Reasons[0], `"abc"`) {
		t.Errorf("got %+v", got)
	}
}

func TestPolicyEvalJSON(t *testing.T) {
	out, err := policyRun(t, "eval", policySeed("seed001_example3.json"), "--action", "ec2:StopInstances", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Decision string `json:"decision"`
		Action   string `json:"action"`
		Matched  []struct {
			File   string `json:"file"`
			Index  int    `json:"index"`
			Sid    string `json:"sid"`
			Effect string `json:"effect"`
		} `json:"matched"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Decision != "explicit-deny" || got.Action != "ec2:StopInstances" || len(got.Matched) != 2 || got.Reasons == nil {
		t.Fatalf("got %+v", got)
	}
	m := got.Matched[0]
	if !strings.HasSuffix(m.File, "seed001_example3.json") || m.Index != 1 || m.Sid != "DenyStopAndTerminateWhenMFAIsNotPresent" || m.Effect != "Deny" {
		t.Errorf("matched %+v", m)
	}
}

func TestPolicyEvalErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"*"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"eval", bad, "--action", "s3:GetObject"}, bad},
		{[]string{"eval", missing, "--action", "s3:GetObject"}, missing},
		{[]string{"eval", policySeed("seed000_bool.json")}, "action"},
		{[]string{"eval", "--action", "s3:GetObject"}, "arg"},
		{[]string{"eval", policySeed("seed000_bool.json"), "--action", "s3:GetObject", "--key", "novalue"}, "NAME=VALUE"},
		{[]string{"check", policySeed("seed000_bool.json"), bad}, bad},
		{[]string{"template", "--max-age", "-1h"}, "negative"},
		{[]string{"template", "extra"}, "unknown command"},
	}
	for _, tc := range cases {
		_, err := policyRun(t, tc.args...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %q lacks %q", tc.args, err, tc.want)
		}
	}
}

func TestPolicyCheckTable(t *testing.T) {
	out, err := policyRun(t, "check", policySeed("seed001_example3.json"), "--action", "ec2:StopInstances", "--action", "ec2:DescribeInstances")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	header := strings.Fields(lines[0])
	wantHeader := []string{"ACTION", "long-term-keys", "console-no-mfa", "session-no-mfa", "mfa-session-age-0", "mfa-session-age-3599", "mfa-session-age-3601", "via-aws-service"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Fatalf("header %v, want %v", header, wantHeader)
	}
	stop := strings.Fields(lines[1])
	if strings.Join(stop, " ") != "ec2:StopInstances explicit-deny explicit-deny explicit-deny allowed allowed explicit-deny explicit-deny" {
		t.Errorf("row %v", stop)
	}
	for _, want := range []string{"Findings:", "[info] mfa-age-window", "fix: set mfa_max_age: 1h for this profile", "Contexts:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyCheckFindings(t *testing.T) {
	out, err := policyRun(t, "check", policySeed("seed002_hancock_bool.json"), "--fail-on", "never")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "[error] bool-pitfall") || !strings.Contains(out, `fix: change "Bool" to "BoolIfExists"`) {
		t.Errorf("no bool-pitfall with fix:\n%s", out)
	}
	out, err = policyRun(t, "check", policySeed("seed003_deny_all_boolifexists.json"), "--fail-on", "never")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "[error] self-service-locked") {
		t.Errorf("no self-service-locked:\n%s", out)
	}
}

// policy check fails on findings at or above --fail-on (error by default),
// so that CI can gate on it; unreadable files and bad flags exit 2.
func TestPolicyCheckExitStatus(t *testing.T) {
	cases := []struct {
		seed   string
		args   []string
		status int
	}{
		{"seed002_hancock_bool.json", nil, 1}, // an error finding
		{"seed002_hancock_bool.json", []string{"--json"}, 1},
		{"seed001_example2.json", nil, 0}, // a warning only
		{"seed001_example2.json", []string{"--fail-on", "warning"}, 1},
		{"seed001_example1.json", []string{"--fail-on", "warning"}, 0}, // info only
		{"seed000_boolifexists.json", []string{"--fail-on", "warning"}, 0},
		{"seed002_hancock_bool.json", []string{"--fail-on", "never"}, 0},
		{"seed001_example2.json", []string{"--fail-on", "sometimes"}, 2},
		{"no-such-file.json", nil, 2},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		root := NewRoot(app)
		root.SetArgs(append([]string{"policy", "check", policySeed(tc.seed)}, tc.args...))
		got := exitStatus(app, root.Execute())
		if got != tc.status {
			t.Errorf("%s %v: exit %d, want %d\n%s%s", tc.seed, tc.args, got, tc.status, out.String(), errOut.String())
		}
		if tc.status == 1 && !strings.Contains(errOut.String(), "finding(s) at or above") {
			t.Errorf("%s %v: stderr %q", tc.seed, tc.args, errOut.String())
		}
	}
}

func TestPolicyCheckJSON(t *testing.T) {
	out, err := policyRun(t, "check", policySeed("seed000_bool.json"), "--json", "--fail-on", "never")
	if err != nil {
		t.Fatal(err)
	}
	var rep policy.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !rep.HasFinding(policy.FindingBoolPitfall) || !rep.HasFinding(policy.FindingNoMFAEnforcement) {
		t.Errorf("findings %+v", rep.Findings)
	}
	if d, ok := rep.Decision("ec2:StopInstances", policy.ContextConsoleNoMFA); !ok || d != policy.ExplicitDeny {
		t.Errorf("console-no-mfa: %s %v", d, ok)
	}
	if d, _ := rep.Decision("ec2:StopInstances", policy.ContextLongTermKeys); d != policy.ImplicitDeny {
		t.Errorf("long-term-keys: %s", d)
	}
}

func TestPolicyTemplate(t *testing.T) {
	out, err := policyRun(t, "template", "--max-age", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"NumericGreaterThanIfExists"`) || !strings.Contains(out, `"aws:MultiFactorAuthAge": "3600"`) {
		t.Errorf("template lacks the age Deny:\n%s", out)
	}
	// The printed template passes its own check.
	file := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := policyRun(t, "check", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r policy.Report
	if err := json.Unmarshal([]byte(rep), &r); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{policy.FindingBoolPitfall, policy.FindingSelfServiceLocked, policy.FindingNoMFAEnforcement} {
		if r.HasFinding(bad) {
			t.Errorf("template has %s", bad)
		}
	}
	out, err = policyRun(t, "template")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "MultiFactorAuthAge") {
		t.Errorf("template without --max-age has an age limit:\n%s", out)
	}
}
