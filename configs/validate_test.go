package configs

import (
	"strings"
	"testing"
)

func TestValidateMFASerial(t *testing.T) {
	tests := []struct {
		serial string
		ok     bool
	}{
		{"arn:aws:iam::111122223333:mfa/alice", true},
		{"arn:aws:iam::111122223333:mfa/division/alice", true},
		{"arn:aws-us-gov:iam::111122223333:mfa/alice", true},
		{"arn:aws-cn:iam::111122223333:mfa/a.l+i=c,e@x-y_z", true},
		{"GAHT12345678", true},
		{"123456789", true},
		{"arn:aws:iam::1111:mfa/alice", false},                // short account
		{"arn:aws:iam::111122223333:user/alice", false},       // a user, not a device
		{"arn:aws:iam::111122223333:mfa/", false},             // no name
		{"arn:aws:iam::111122223333:u2f/user/alice/x", false}, // FIDO
		{"arn:aws:sts::111122223333:mfa/alice", false},
		{"arn:aws:iam:eu-west-1:111122223333:mfa/alice", false},
		{"12345678", false}, // too short
		{"GAHT 12345678", false},
		{strings.Repeat("a", 257), false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateMFASerial(tt.serial)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateMFASerial(%q) = %v; want ok=%v", tt.serial, err, tt.ok)
		}
	}
	if err := ValidateMFASerial("arn:aws:iam::111122223333:u2f/user/alice/x"); err == nil || !strings.Contains(err.Error(), "FIDO") {
		t.Errorf("u2f: %v", err)
	}
}

func TestValidateProfileName(t *testing.T) {
	for _, ok := range []string{"a", "work", "Work-Admin_2.prod", strings.Repeat("x", 64)} {
		if err := ValidateProfileName(ok); err != nil {
			t.Errorf("ValidateProfileName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "a@b", strings.Repeat("x", 65), "é"} {
		if err := ValidateProfileName(bad); err == nil {
			t.Errorf("ValidateProfileName(%q) = nil", bad)
		}
	}
}

func TestValidation(t *testing.T) {
	const work = "profiles:\n  work:\n    mfa_serial: " + serialAlice + "\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"listen on all interfaces", "listen: 0.0.0.0:8080\n", []string{`listen "0.0.0.0:8080"`, "config.yaml:1", "127.0.0.1 only: other addresses are reachable by other machines or refused by AWS SDKs"}},
		{"listen on localhost", "listen: localhost:8080\n", []string{"127.0.0.1 only"}},
		{"listen without port", "listen: 127.0.0.1\n", []string{"127.0.0.1 only"}},
		{"listen bad port", "listen: 127.0.0.1:99999\n", []string{"0 to 65535"}},
		{"sts endpoint relative", "sts_endpoint: sts.amazonaws.com\n", []string{"sts_endpoint", "absolute http(s) URL"}},
		{"sts endpoint scheme", "sts_endpoint: ftp://x\n", []string{"absolute http(s) URL"}},
		{"keyring backend", "keyring:\n  backend: vault\n", []string{`keyring.backend "vault"`, "auto", "os", "file"}},
		{"bad serial", "profiles:\n  work:\n    mfa_serial: abc\n", []string{`profile "work": mfa_serial (set in `, "config.yaml:3", `"abc" is not an MFA device`, "arn:aws:iam::ACCOUNT_ID:mfa/NAME"}},
		{"no serial", "profiles:\n  work:\n    region: eu-west-1\n", []string{`profile "work" has no MFA device`, "profiles.work.mfa_serial", "MFAD_PROFILE_WORK_MFA_SERIAL"}},
		{"bad profile name", "profiles:\n  a b:\n    mfa_serial: " + serialAlice + "\n", []string{"profiles.a b", "not a valid profile name"}},
		{"session too short", work + "    session_duration: 10m\n", []string{`profile "work": session_duration 10m`, "config.yaml:4", "15m to 36h"}},
		{"session too long", work + "    session_duration: 37h\n", []string{"session_duration 37h", "15m to 36h"}},
		{"session in seconds too long", work + "    session_duration: 129601\n", []string{"session_duration 36h0m1s", "900 to 129600 seconds"}},
		{"role too long", work + "    role_duration: 13h\n", []string{"role_duration 13h", "15m to 12h"}},
		{"role too short", work + "    role_duration: 14m\n", []string{"role_duration 14m", "15m to 12h"}},
		{"mfa max age too short", work + "    mfa_max_age: 30s\n", []string{"mfa_max_age 30s", "at least 1m"}},
		{"mfa max age negative", work + "    mfa_max_age: -1h\n", []string{"mfa_max_age -1h", "at least 1m"}},
		{"mfa lead vs max age", work + "    mfa_max_age: 10m\n", []string{"mfa_lead 15m (the default) is not shorter than mfa_max_age (10m)"}},
		{"refresh lead zero", work + "    refresh_lead: 0\n", []string{"refresh_lead 0s", "more than 0 and less than 1h"}},
		{"refresh lead vs lifetime", work + "    session_duration: 15m\n    mfa_lead: 5m\n", []string{"refresh_lead 20m (the default) is not shorter than session_duration (15m)"}},
		{"mfa lead too long", work + "    mfa_lead: 2h\n", []string{"mfa_lead 2h", "less than 1h"}},
		{"process timeout", work + "    mfa_process_timeout: 1h\n", []string{"mfa_process_timeout 1h", "1s to 10m"}},
		{"mfa source", work + "    mfa_source: sms\n", []string{`mfa_source "sms"`, "prompt", "process", "totp"}},
		{"process without command", work + "    mfa_source: process\n", []string{`mfa_source "process"`, "needs mfa_process"}},
		{"region", work + "    region: EU West\n", []string{`region "EU West"`, "eu-west-1"}},
		{"role arn", work + "    role_arn: arn:aws:iam::444455556666:user/x\n", []string{"role_arn", "not an IAM role ARN"}},
		{"session name", work + "    role_arn: arn:aws:iam::444455556666:role/R\n    role_session_name: a b\n", []string{"role_session_name", "not a valid session name"}},
		{"external id", work + "    role_arn: arn:aws:iam::444455556666:role/R\n    external_id: x\n", []string{"external_id", "not a valid external ID"}},
		{"source without role", work + "  other:\n    source_profile: work\n", []string{`profile "other": source_profile "work"`, "only used with role_arn"}},
		{"source is itself", work + "    role_arn: arn:aws:iam::444455556666:role/R\n    source_profile: work\n", []string{"names the profile itself"}},
		{"source missing", work + "  r:\n    role_arn: arn:aws:iam::444455556666:role/R\n    source_profile: nope\n", []string{`source_profile "nope"`, "not a known profile"}},
		{"cycle", work + "  a:\n    role_arn: arn:aws:iam::444455556666:role/A\n    source_profile: b\n  b:\n    role_arn: arn:aws:iam::444455556666:role/B\n    source_profile: a\n", []string{"a -> b -> a form a cycle"}},
		{"chained role too long", work + "  a:\n    role_arn: arn:aws:iam::444455556666:role/A\n    source_profile: work\n  b:\n    role_arn: arn:aws:iam::444455556666:role/B\n    source_profile: a\n    role_duration: 2h\n", []string{`profile "b": source_profile "a"`, "names a role profile", "holds the long-term keys"}},
		{"role over the chaining cap", work + "  a:\n    role_arn: arn:aws:iam::444455556666:role/A\n    source_profile: work\n    role_duration: 2h\n", []string{`profile "a": role_duration 2h`, "1-hour limit", "role chaining"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mfad(t, tt.yaml)
			f.wantErr(t, tt.want...)
		})
	}
}

func TestRoleProfilesFromTheKeyProfile(t *testing.T) {
	f := newFixture(t)
	f.mfad(t, `
profiles:
  base:
    mfa_serial: `+serialAlice+`
  a:
    role_arn: arn:aws:iam::444455556666:role/A
    source_profile: base
    role_duration: 1h
    refresh_lead: 59m
  b:
    role_arn: arn:aws:iam::444455556666:role/B
    source_profile: base
    mfa_source: totp
`)
	c := f.mustLoad(t)
	for _, n := range []string{"a", "b"} {
		chain, err := c.Chain(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) != 2 || chain[0].Name != "base" || chain[1].Name != n {
			t.Errorf("Chain(%s) has %d links", n, len(chain))
		}
		if c.Profiles[n].MFASerial != serialAlice || c.Profiles[n].KeyProfile() != "base" {
			t.Errorf("%s: MFASerial %q, key profile %q", n, c.Profiles[n].MFASerial, c.Profiles[n].KeyProfile())
		}
	}
}

func TestErrorsAreAllReported(t *testing.T) {
	f := newFixture(t)
	f.mfad(t, "listen: 0.0.0.0:1\nprofiles:\n  work:\n    mfa_serial: nope\n    session_duration: 1m\n")
	err := f.wantErr(t, "listen", "mfa_serial", "session_duration")
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("got %d errors; want 3:\n%v", n, err)
	}
}
