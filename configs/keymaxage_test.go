package configs

import (
	"testing"
	"time"
)

func TestRotationSettings(t *testing.T) {
	f := newFixture(t)
	f.mfad(t, "iam_endpoint: http://127.0.0.1:9/\nsignin_endpoint: https://signin.example/federation\nprofiles:\n  work:\n    mfa_serial: "+serialAlice+"\n    key_max_age: 2160h\n")
	c := f.mustLoad(t)
	if c.IAMEndpoint != "http://127.0.0.1:9/" || c.SigninEndpoint != "https://signin.example/federation" || c.Profiles["work"].KeyMaxAge != 90*24*time.Hour {
		t.Fatalf("loaded %q %q %v", c.IAMEndpoint, c.SigninEndpoint, c.Profiles["work"].KeyMaxAge)
	}
	f.env["MFAD_IAM_ENDPOINT"] = "https://iam.example/"
	f.env["MFAD_PROFILE_WORK_KEY_MAX_AGE"] = "720h"
	if c := f.mustLoad(t); c.IAMEndpoint != "https://iam.example/" || c.Profiles["work"].KeyMaxAge != 30*24*time.Hour {
		t.Fatalf("environment overrides: %q %v", c.IAMEndpoint, c.Profiles["work"].KeyMaxAge)
	}

	f = newFixture(t)
	f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n    key_max_age: 10m\n")
	f.wantErr(t, "key_max_age", "at least 1h")
	f = newFixture(t)
	f.mfad(t, "signin_endpoint: signin.aws.amazon.com\n")
	f.wantErr(t, "signin_endpoint")
}
