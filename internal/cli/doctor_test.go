package cli

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
)

const doctorAWSConfig = `# my profiles
[default]
region = eu-west-1

[profile work]
mfa_serial = arn:aws:iam::111122223333:mfa/alice

[profile admin-base]
source_profile = work
external_id = ext-1234

[profile admin]
include_profile = admin-base
role_arn = arn:aws:iam::444455556666:role/Admin
region = eu-west-2
duration_seconds = 7200
`

func doctorJSON(t *testing.T, w *movingWorld, args ...string) (doctorReport, error) {
	t.Helper()
	doc := doctorSystem{service: serviceSystem{goos: "linux"}, replaceFile: configs.ReplaceFile}
	out, err := w.run(realImport, doc, append([]string{"doctor", "--json"}, args...)...)
	var rep doctorReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("doctor printed %q: %v", out, jerr)
	}
	return rep, err
}

func findings(rep doctorReport, check, status string) []doctorFinding {
	var out []doctorFinding
	for _, f := range rep.Findings {
		if f.Check == check && f.Status == status {
			out = append(out, f)
		}
	}
	return out
}

func TestDoctorFindsWhatShadowsMFAD(t *testing.T) {
	w := newMovingWorld(t, doctorAWSConfig)
	w.env["AWS_PROFILE"] = "work"
	w.env["AWS_ACCESS_KEY_ID"] = "AKIAENVENVENVENVENVE"
	w.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/task"
	rep, err := doctorJSON(t, w)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || rep.OK {
		t.Fatalf("doctor: %v, ok %v", err, rep.OK)
	}
	if f := findings(rep, "shared-credentials", doctorFix); len(f) != 1 || f[0].Profile != "work" || f[0].Fix != "mfad import work" {
		t.Errorf("shared-credentials findings: %+v", f)
	}
	if f := findings(rep, "environment", doctorFix); len(f) != 2 || !strings.Contains(f[0].Message, "AWS_ACCESS_KEY_ID") || !strings.Contains(f[1].Message, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
		t.Errorf("environment findings: %+v", f)
	}
	if f := findings(rep, "aws-profile", doctorFix); len(f) != 1 || f[0].Profile != "work" || !strings.Contains(f[0].Fix, "mfad import work") {
		t.Errorf("aws-profile findings: %+v", f)
	}
	if f := findings(rep, "role-profile", doctorFix); len(f) != 1 || f[0].Profile != "admin" || !strings.Contains(f[0].Fix, "credential-process --profile admin") {
		t.Errorf("role-profile findings: %+v", f)
	}
	if f := findings(rep, "keystore", doctorFix); len(f) != 1 || f[0].Profile != "work" || f[0].Fix != "mfad import work" {
		t.Errorf("keystore findings: %+v", f)
	}
	if f := findings(rep, "daemon", doctorFix); len(f) != 1 {
		t.Errorf("daemon findings: %+v", f)
	}
	if f := findings(rep, "keystore", doctorOK); len(f) != 1 || !strings.Contains(f[0].Message, "backend file") {
		t.Errorf("keystore: %+v", f)
	}
	// personal and temp are not mfad's: their keys are no finding.
	for _, f := range rep.Findings {
		if f.Profile == "personal" || f.Profile == "temp" {
			t.Errorf("finding about a profile mfad does not serve: %+v", f)
		}
	}

	// --fix moves admin's role settings into mfad's file and makes the AWS
	// CLI ask mfad.
	before := w.read(".aws/config")
	doc := doctorSystem{service: serviceSystem{goos: "linux"}, replaceFile: configs.ReplaceFile}
	out, _ := w.run(realImport, doc, "doctor", "--fix")
	wantIn(t, "doctor --fix", out, "fixed: [profile admin]")
	after := w.read(".aws/config")
	wantLines := strings.Replace(before, "[profile admin]\n", "[profile admin]\n"+credentialProcessLine("admin")+"\n", 1)
	wantLines = strings.Replace(wantLines, "role_arn = ", "# moved into mfad's configuration: role_arn = ", 1)
	wantLines = strings.Replace(wantLines, "duration_seconds = 7200", "# moved into mfad's configuration: duration_seconds = 7200", 1)
	if after != wantLines {
		t.Fatalf("~/.aws/config after --fix:\n%s\nwant\n%s", after, wantLines)
	}
	mfadFile := w.read(".config/mfad/config.yaml")
	wantIn(t, "mfad config", mfadFile, "admin:", "role_arn: arn:aws:iam::444455556666:role/Admin", "role_duration: 1h")
	cfg, err := configs.Load(configs.LoadOptions{Getenv: func(k string) string { return w.env[k] }, HomeDir: w.home})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Profiles["admin"]
	if a == nil || a.RoleARN != "arn:aws:iam::444455556666:role/Admin" || a.SourceProfile != "work" || a.ExternalID != "ext-1234" ||
		a.Region != "eu-west-2" || a.MFASerial != "arn:aws:iam::111122223333:mfa/alice" {
		t.Fatalf("admin after --fix: %+v", a)
	}
	rep, _ = doctorJSON(t, w)
	if f := findings(rep, "role-profile", doctorFix); len(f) != 0 {
		t.Errorf("role-profile findings after --fix: %+v", f)
	}
}

func TestDoctorRunsPolicyChecks(t *testing.T) {
	w := newMovingWorld(t, "[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n")
	seed, err := filepath.Abs("../../policy/testdata/seed000_bool.json")
	if err != nil {
		t.Fatal(err)
	}
	w.write(".config/mfad/config.yaml", "profiles:\n  work:\n    policy_files: ["+seed+"]\n")
	rep, _ := doctorJSON(t, w)
	if f := findings(rep, "policy", doctorFix); len(f) == 0 || f[0].Profile != "work" || f[0].Fix == "" {
		t.Fatalf("policy findings: %+v", rep.Findings)
	}
}

func TestListSaysWhyAProfileIsNotServed(t *testing.T) {
	w := newMovingWorld(t, "[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n\n[profile sso]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\nsso_session = corp\n")
	out, err := w.run(realImport, doctorSystem{}, "list", "--json")
	var rows []listEntry
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	found := false
	for _, r := range rows {
		if r.Profile == "sso" {
			found = r.Session == "not served" && strings.Contains(r.NotServed, "IAM Identity Center (sso_session)")
		}
	}
	if !found {
		t.Fatalf("list --json: %s", out)
	}
	out, err = w.run(realImport, doctorSystem{}, "list")
	if err != nil || !strings.Contains(out, "sso is not served: it signs in through IAM Identity Center (sso_session), which mfad does not do.") {
		t.Fatalf("list: %v\n%s", err, out)
	}
}

func TestDoctorFlagsADefaultProfileResolvedWithoutMFAD(t *testing.T) {
	w := newMovingWorld(t, "[default]\ncredential_process = /usr/local/bin/other-tool\n\n[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n")
	rep, _ := doctorJSON(t, w)
	f := findings(rep, "aws-profile", doctorFix)
	if len(f) != 1 || f[0].Profile != "default" || !strings.Contains(f[0].Message, "credential_process") {
		t.Fatalf("aws-profile findings: %+v", f)
	}
	w.env["AWS_PROFILE"] = "work"
	rep, _ = doctorJSON(t, w)
	for _, f := range findings(rep, "aws-profile", doctorFix) {
		if f.Profile == "default" {
			t.Fatalf("with AWS_PROFILE=work, [default] does not matter: %+v", f)
		}
	}
}

func TestDoctorReadsTheDaemonsClockSkewAndState(t *testing.T) {
	if f := clockSkewFinding(ipc.StatusReply{}); f != nil {
		t.Fatalf("no skew: %+v", f)
	}
	f := clockSkewFinding(ipc.StatusReply{ClockSkewSeconds: 300})
	if f == nil || f.Status != doctorFix || !strings.Contains(f.Message, "clock 5m behind STS's") || !strings.Contains(f.Fix, "NTP") {
		t.Fatalf("skew 300 s: %+v", f)
	}
	if f := clockSkewFinding(ipc.StatusReply{ClockSkewSeconds: -90}); f == nil || !strings.Contains(f.Message, "1m30s ahead of STS's") {
		t.Fatalf("skew -90 s: %+v", f)
	}
	got := daemonStateFindings(ipc.StatusReply{KeystoreLocked: true, KeystoreFile: "/k.enc", ConfigError: "bad key"})
	if len(got) != 2 || got[0].Fix != "mfad unlock" || !strings.Contains(got[1].Message, "bad key") {
		t.Fatalf("daemon state findings: %+v", got)
	}
}

func TestDoctorFlagsKeysInDefault(t *testing.T) {
	w := newMovingWorld(t, "[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n")
	w.write(".aws/credentials", "[default]\naws_access_key_id = "+personalKeyID+"\naws_secret_access_key = "+personalSecret+"\n")
	rep, _ := doctorJSON(t, w)
	f := findings(rep, "shared-credentials", doctorFix)
	if len(f) != 1 || f[0].Profile != "default" || !strings.Contains(f[0].Message, "SDKs use [default] when no profile is named") || !strings.HasPrefix(f[0].Fix, "mfad import default (then give it an mfa_serial") {
		t.Fatalf("shared-credentials findings: %+v", f)
	}
}
