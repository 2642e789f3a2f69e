package configs

import (
	"reflect"
	"strings"
	"testing"
)

// An aws-vault user's ~/.aws/config: the device in [default], keys in
// aws-vault, include_profile for shared role settings, mfa_process for a
// YubiKey.
const awsVaultConfig = `[default]
region = eu-west-1
mfa_serial = arn:aws:iam::111122223333:mfa/alice
mfa_process = ykman oath accounts code --single aws-alice

[profile alice]

[profile prod-base]
source_profile = alice
external_id = prod-ext
role_session_name = alice-prod
source_identity = alice

[profile prod-admin]
include_profile = prod-base
role_arn = arn:aws:iam::444455556666:role/Admin
duration_seconds = 1800

[profile bob]
mfa_serial = arn:aws:iam::111122223333:mfa/bob

[profile bob-ops]
role_arn = arn:aws:iam::444455556666:role/Ops
source_profile = bob
mfa_process = pass otp aws-bob

[profile sso-dev]
mfa_serial = arn:aws:iam::111122223333:mfa/alice
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Dev

[profile tagged]
role_arn = arn:aws:iam::444455556666:role/Tagged
source_profile = alice
session_tags = team=core

[profile tagged-child]
role_arn = arn:aws:iam::444455556666:role/Child
source_profile = tagged

[profile loop-a]
include_profile = loop-b
mfa_serial = arn:aws:iam::111122223333:mfa/alice

[profile loop-b]
include_profile = loop-a

[profile missing]
include_profile = nowhere

[profile own-cp]
mfa_serial = arn:aws:iam::111122223333:mfa/carol
credential_process = /usr/local/bin/mfad credential-process --profile own-cp

[profile plain]
region = us-east-2
output = json
`

func TestAWSVaultConfig(t *testing.T) {
	f := newFixture(t)
	f.aws(t, awsVaultConfig)
	c := f.mustLoad(t)

	want := []string{"alice", "bob", "bob-ops", "default", "own-cp", "prod-admin"}
	if got := c.ProfileNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("ProfileNames = %q; want %q", got, want)
	}
	// include_profile: prod-admin takes prod-base's role settings.
	pa := c.Profiles["prod-admin"]
	if pa.SourceProfile != "alice" || pa.ExternalID != "prod-ext" || pa.RoleSessionName != "alice-prod" ||
		pa.SourceIdentity != "alice" || pa.RoleDuration.Minutes() != 30 {
		t.Errorf("prod-admin = %+v", pa)
	}
	// Regions are not inherited from [default] (the AWS CLI's reading).
	if pa.Region != DefaultRegion {
		t.Errorf("prod-admin.Region = %q; want %q", pa.Region, DefaultRegion)
	}
	// alice has no device of her own and no role names one: [default]'s,
	// with its mfa_process, as aws-vault reads it.
	a := c.Profiles["alice"]
	if a.MFASerial != serialAlice || a.MFAProcess != "ykman oath accounts code --single aws-alice" || a.MFASource != MFASourceProcess {
		t.Errorf("alice = %+v", a)
	}
	if pa.MFASerial != serialAlice {
		t.Errorf("prod-admin.MFASerial = %q", pa.MFASerial)
	}
	// bob's role profile carries mfa_process: bob asks for the codes, so
	// he runs it.
	if b := c.Profiles["bob"]; b.MFASource != MFASourceProcess || b.MFAProcess != "pass otp aws-bob" {
		t.Errorf("bob = %+v", b)
	}
	// Not served, with the reason, rather than dropped.
	for name, frag := range map[string]string{
		"sso-dev":      "IAM Identity Center (sso_session)",
		"tagged":       "session_tags",
		"tagged-child": "its source_profile tagged is not served",
		"loop-a":       "include_profile forms a loop (loop-a -> loop-b -> loop-a)",
		"loop-b":       "include_profile forms a loop",
		"missing":      `include_profile names "nowhere"`,
	} {
		if why := c.NotServed[name]; !strings.Contains(why, frag) {
			t.Errorf("NotServed[%s] = %q; want it to say %q", name, why, frag)
		}
	}
	if _, ok := c.NotServed["plain"]; ok {
		t.Errorf("plain has nothing to do with MFA, yet NotServed says %q", c.NotServed["plain"])
	}
	// mfad's own credential_process line does not stand in the way.
	if _, ok := c.Profiles["own-cp"]; !ok {
		t.Errorf("own-cp is not served: %q", c.NotServed["own-cp"])
	}
}

func TestAWSSourceIdentityChecked(t *testing.T) {
	f := newFixture(t)
	f.aws(t, `[profile base]
mfa_serial = arn:aws:iam::111122223333:mfa/alice
[profile r]
role_arn = arn:aws:iam::444455556666:role/R
source_profile = base
source_identity = aws:reserved
`)
	f.wantErr(t, "source_identity", "not a valid source identity")
}

func TestIniFileEdits(t *testing.T) {
	const file = "# my keys\n[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\r\naws_secret_access_key=secretsecret\nregion = eu-west-1\n\n; work\n[work]\n  aws_access_key_id: AKIABBBBBBBBBBBBBBBB\n# keep me\naws_secret_access_key = s2\n   continued\noutput = json\n[other]\naws_access_key_id = AKIACCCCCCCCCCCCCCCC\naws_secret_access_key = s3"
	f, err := ParseIniFile("creds", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	w := f.Section("work")
	if v, _ := w.Get(CredSecretAccessKey); v != "s2\ncontinued" || !w.HasStaticKeys() || w.HasSessionToken() || w.Line != 8 {
		t.Fatalf("work = %+v (secret %q)", w, v)
	}
	got := string(f.Without(map[string][]string{"work": {CredAccessKeyID, CredSecretAccessKey}, "other": {CredAccessKeyID, CredSecretAccessKey}}))
	want := "# my keys\n[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\r\naws_secret_access_key=secretsecret\nregion = eu-west-1\n\n; work\n[work]\n# keep me\noutput = json\n[other]\n"
	if got != want {
		t.Errorf("Without:\n%q\nwant\n%q", got, want)
	}
	got = string(f.CommentOut("work", []string{CredSecretAccessKey}, "moved: ", "credential_process = x"))
	want = "# my keys\n[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\r\naws_secret_access_key=secretsecret\nregion = eu-west-1\n\n; work\n[work]\ncredential_process = x\n  aws_access_key_id: AKIABBBBBBBBBBBBBBBB\n# keep me\n# moved: aws_secret_access_key = s2\n# moved: continued\noutput = json\n[other]\naws_access_key_id = AKIACCCCCCCCCCCCCCCC\naws_secret_access_key = s3"
	if got != want {
		t.Errorf("CommentOut:\n%q\nwant\n%q", got, want)
	}
	if f, err := ParseIniFile("f", []byte("[ profile x ] ; trailing\nk = v\n")); err != nil || f.Section("profile x") == nil {
		t.Errorf("a header with trailing text: %v", err)
	}
	for _, bad := range []string{"[a]\nx = 1\nx = 2\n", "[a]\n[a]\n", "x = 1\n", "[a]\nnot a key\n", "[a\n", "[]\n"} {
		if _, err := ParseIniFile("f", []byte(bad)); err == nil {
			t.Errorf("ParseIniFile(%q) succeeded", bad)
		}
	}
}
