package configs

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const awsConfig = `
# comments are fine
[default]
region = us-west-2
mfa_serial = arn:aws:iam::111122223333:mfa/default-user

[profile base]
region = eu-west-1
mfa_serial = arn:aws:iam::111122223333:mfa/alice
s3 =
  max_concurrent_requests = 20

[profile admin]
role_arn = arn:aws:iam::444455556666:role/Admin
source_profile = base
duration_seconds = 7200
role_session_name = alice
external_id = ext-123

; a role whose MFA device is named on the role profile, as the AWS CLI allows
[profile keysonly]
region = eu-west-3

[profile ops]
role_arn = arn:aws:iam::444455556666:role/Ops
source_profile = keysonly
MFA_Serial = arn:aws:iam::111122223333:mfa/bob

[profile readonly]
role_arn = arn:aws:iam::444455556666:role/ReadOnly
source_profile = keysonly

[profile selfrole]
aws_access_key_id = AKIAEXAMPLE
role_arn = arn:aws:iam::444455556666:role/Self
source_profile = selfrole
mfa_serial = arn:aws:iam::111122223333:mfa/carol

[profile plain]
region = eu-central-1

[profile ec2role]
role_arn = arn:aws:iam::444455556666:role/FromInstance
credential_source = Ec2InstanceMetadata

[profile sso-user]
sso_session = corp
sso_account_id = 111122223333

[profile nomfa-role]
role_arn = arn:aws:iam::444455556666:role/NoMFA
source_profile = plain

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1

[services local]
sts =
  endpoint_url = http://127.0.0.1:4566

[profile base.child]
region = ap-south-1

[profile weird name]
mfa_serial = arn:aws:iam::111122223333:mfa/dave
`

func TestAWSImport(t *testing.T) {
	f := newFixture(t)
	awsPath := f.aws(t, awsConfig)
	c := f.mustLoad(t)
	if c.AWSConfigFile != awsPath {
		t.Errorf("AWSConfigFile = %q; want %q", c.AWSConfigFile, awsPath)
	}
	// nomfa-role (assumed with plain's keys) names no device, but [default]
	// does: aws-vault, which fills every profile from [default], would ask
	// for that device's code, and so does mfad.
	wantNames := []string{"admin", "base", "default", "keysonly", "nomfa-role", "ops", "plain", "readonly", "selfrole"}
	if got := c.ProfileNames(); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("ProfileNames = %q; want %q", got, wantNames)
	}
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], `"weird name" is not a valid profile name`) ||
		!strings.Contains(c.Warnings[1], "profile admin: duration_seconds 7200 is over AWS's 1-hour limit") {
		t.Errorf("Warnings = %q", c.Warnings)
	}

	admin := c.Profiles["admin"]
	if admin.MFASerial != serialAlice {
		t.Errorf("admin.MFASerial = %q; want base's %q", admin.MFASerial, serialAlice)
	}
	// duration_seconds 7200 suits the AWS CLI's own AssumeRole with an MFA
	// code; a role assumed from an MFA session is capped at 1h by AWS.
	if admin.RoleDuration != time.Hour || admin.RoleSessionName != "alice" || admin.ExternalID != "ext-123" || admin.SourceProfile != "base" {
		t.Errorf("admin = %+v", admin)
	}
	if admin.Region != "us-east-1" {
		t.Errorf("admin.Region = %q; want the default (regions are not inherited)", admin.Region)
	}
	if !reflect.DeepEqual(admin.Sources, []string{"aws"}) {
		t.Errorf("admin.Sources = %q", admin.Sources)
	}
	if base := c.Profiles["base"]; base.Region != "eu-west-1" || base.RoleARN != "" {
		t.Errorf("base = %+v", base)
	}
	// The key profile takes the MFA device its role profiles name, and the
	// other role profiles using it inherit it in turn.
	for _, n := range []string{"keysonly", "ops", "readonly"} {
		if got := c.Profiles[n].MFASerial; got != serialBob {
			t.Errorf("%s.MFASerial = %q; want %q", n, got, serialBob)
		}
	}
	if sr := c.Profiles["selfrole"]; sr.SourceProfile != "" || sr.KeyProfile() != "selfrole" {
		t.Errorf("selfrole: SourceProfile = %q; want none (it holds its own keys)", sr.SourceProfile)
	}
	if p := c.Profiles["plain"]; p.MFASerial != "arn:aws:iam::111122223333:mfa/default-user" || p.Region != "eu-central-1" {
		t.Errorf("plain = %+v", p)
	}
	if d := c.Profiles["default"]; d.Region != "us-west-2" || d.MFASerial != "arn:aws:iam::111122223333:mfa/default-user" {
		t.Errorf("default = %+v", d)
	}
	chain, err := c.Chain("admin")
	if err != nil || len(chain) != 2 || chain[0].Name != "base" || chain[1].Name != "admin" {
		t.Errorf("Chain(admin) = %v, %v", chain, err)
	}
}

func TestMfadFileWinsPerField(t *testing.T) {
	f := newFixture(t)
	f.aws(t, `
[profile work]
mfa_serial = arn:aws:iam::111122223333:mfa/alice
region = eu-west-1

[profile admin]
role_arn = arn:aws:iam::444455556666:role/Admin
source_profile = work
duration_seconds = 3600
`)
	f.mfad(t, `
profiles:
  work:
    region: eu-central-1
    session_duration: 8h
    role_arn: ""          # empty: does not hide anything
  admin:
    role_duration: 30m
`)
	c := f.mustLoad(t)
	w := c.Profiles["work"]
	if w.MFASerial != serialAlice || w.Region != "eu-central-1" || w.SessionDuration != 8*time.Hour {
		t.Errorf("work = %+v", w)
	}
	if !reflect.DeepEqual(w.Sources, []string{"aws", "mfad"}) {
		t.Errorf("work.Sources = %q", w.Sources)
	}
	a := c.Profiles["admin"]
	if a.RoleARN != "arn:aws:iam::444455556666:role/Admin" || a.RoleDuration != 30*time.Minute || a.MFASerial != serialAlice {
		t.Errorf("admin = %+v", a)
	}
}

func TestAWSSourceProfileImportedForMfadProfile(t *testing.T) {
	f := newFixture(t)
	f.aws(t, "[profile keys]\nregion = eu-west-1\n\n[profile other]\nregion = eu-west-2\n")
	f.mfad(t, "profiles:\n  admin:\n    role_arn: arn:aws:iam::444455556666:role/Admin\n    source_profile: keys\n    mfa_serial: "+serialAlice+"\n")
	c := f.mustLoad(t)
	if got := c.ProfileNames(); !reflect.DeepEqual(got, []string{"admin", "keys"}) {
		t.Fatalf("ProfileNames = %q", got)
	}
	if k := c.Profiles["keys"]; k.MFASerial != serialAlice || k.Region != "eu-west-1" {
		t.Errorf("keys = %+v", k)
	}
}

func TestAWSProfileNamesAreCaseSensitive(t *testing.T) {
	f := newFixture(t)
	f.aws(t, "[profile Work]\nmfa_serial = "+serialAlice+"\nregion = eu-west-1\n")
	f.mfad(t, "profiles:\n  Work:\n    region: eu-west-2\n")
	c := f.mustLoad(t)
	p, err := c.Profile("Work")
	if err != nil {
		t.Fatal(err)
	}
	if p.Region != "eu-west-2" || p.MFASerial != serialAlice || len(p.Sources) != 2 {
		t.Errorf("Work = %+v", p)
	}
	if _, err := c.Profile("work"); err == nil {
		t.Error(`Profile("work") found the profile named "Work"`)
	}
}

func TestAWSConfigFileEnv(t *testing.T) {
	f := newFixture(t)
	other := writeFile(t, t.TempDir(), "aws.ini", "[profile x]\nmfa_serial = "+serialAlice+"\n")
	f.aws(t, "[profile y]\nmfa_serial = "+serialAlice+"\n")
	f.env["AWS_CONFIG_FILE"] = other
	c := f.mustLoad(t)
	if got := c.ProfileNames(); !reflect.DeepEqual(got, []string{"x"}) || c.AWSConfigFile != other {
		t.Errorf("ProfileNames, AWSConfigFile = %q, %q", got, c.AWSConfigFile)
	}
	f.env["AWS_CONFIG_FILE"] = filepath.Join(f.home, "missing")
	if c := f.mustLoad(t); len(c.Profiles) != 0 || c.AWSConfigFile != "" {
		t.Errorf("missing AWS config: %q, %q", c.ProfileNames(), c.AWSConfigFile)
	}
}

func TestAWSErrors(t *testing.T) {
	tests := []struct {
		name, aws, mfad string
		want            []string
	}{
		{"malformed", "[profile x\nmfa_serial = y\n", "", []string{"config", "malformed AWS config file"}},
		{"bad duration_seconds", "[profile r]\nrole_arn = arn:aws:iam::444455556666:role/R\nmfa_serial = " + serialAlice + "\nduration_seconds = 1h\n", "", []string{"[profile r]", "duration_seconds", `"1h" is not a whole number of seconds`}},
		{"bad serial names the AWS file", "[profile x]\nmfa_serial = 123\n", "", []string{`profile "x": mfa_serial`, ".aws/config [profile x]", `"123" is not an MFA device`}},
		{"role duration too long", "[profile r]\nrole_arn = arn:aws:iam::444455556666:role/R\nmfa_serial = " + serialAlice + "\nduration_seconds = 86400\n", "", []string{`profile "r": role_duration 24h`, "[profile r]", "15m to 12h"}},
		{"role profiles disagree", "[profile k]\nregion = eu-west-1\n[profile a]\nrole_arn = arn:aws:iam::444455556666:role/A\nsource_profile = k\nmfa_serial = " + serialAlice + "\n[profile b]\nrole_arn = arn:aws:iam::444455556666:role/B\nsource_profile = k\nmfa_serial = " + serialBob + "\n", "", []string{`profile "k" has no mfa_serial`, "different devices", "a: " + serialAlice, "b: " + serialBob}},
		{"missing source profile", "[profile r]\nrole_arn = arn:aws:iam::444455556666:role/R\nsource_profile = ghost\nmfa_serial = " + serialAlice + "\n", "", []string{`profile "r": source_profile "ghost"`, "not a known profile"}},
		{"source profile with unusable name", "[profile r]\nrole_arn = arn:aws:iam::444455556666:role/R\nsource_profile = a b\nmfa_serial = " + serialAlice + "\n[profile a b]\nregion = eu-west-1\n", "", []string{`source_profile "a b"`, "skipped", "not a valid profile name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.aws(t, tt.aws)
			if tt.mfad != "" {
				f.mfad(t, tt.mfad)
			}
			f.wantErr(t, tt.want...)
		})
	}
}
