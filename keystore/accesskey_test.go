package keystore

import (
	"errors"
	"strings"
	"testing"
)

func TestAccessKeyValidate(t *testing.T) {
	if err := testKey.Validate(); err != nil {
		t.Fatalf("valid key rejected: %v", err)
	}
	cases := []struct {
		name string
		key  AccessKey
		want string
	}{
		{"short id", AccessKey{AccessKeyID: "AKIA12345678", SecretAccessKey: testKey.SecretAccessKey}, "access key id must be AKIA followed by 16 upper-case letters or digits (got 12 characters)"},
		{"empty id", AccessKey{AccessKeyID: "", SecretAccessKey: testKey.SecretAccessKey}, "(it is empty)"},
		{"lower-case id", AccessKey{AccessKeyID: "AKIAiosfodnn7example", SecretAccessKey: testKey.SecretAccessKey}, "character 5 is not an upper-case letter or digit"},
		{"temporary id", AccessKey{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: testKey.SecretAccessKey}, "ASIA"},
		{"other prefix", AccessKey{AccessKeyID: "AROAIOSFODNN7EXAMPLE", SecretAccessKey: testKey.SecretAccessKey}, "does not start with AKIA"},
		{"id with space", AccessKey{AccessKeyID: " AKIAIOSFODNN7EXAMPLE", SecretAccessKey: testKey.SecretAccessKey}, "white space"},
		{"short secret", AccessKey{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey[:39]}, "secret access key must be 40 characters of A-Z, a-z, 0-9, '/' and '+' (got 39 characters)"},
		{"long secret", AccessKey{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey + "x"}, "(got 41 characters)"},
		{"secret bad char", AccessKey{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "wJalrXUtnFEMI-K7MDENG/bPxRfiCYEXAMPLEKEY"}, "character 14 is not allowed"},
		{"secret newline", AccessKey{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey + "\n"}, "white space"},
		{"empty secret", AccessKey{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: ""}, "secret access key must be"},
		{"swapped", AccessKey{AccessKeyID: testKey.SecretAccessKey, SecretAccessKey: testKey.AccessKeyID}, "swapped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.Validate()
			if !errors.Is(err, ErrInvalidAccessKey) {
				t.Fatalf("Validate: err = %v; want ErrInvalidAccessKey", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should contain %q", msg, tc.want)
			}
			for _, secret := range []string{testKey.SecretAccessKey, testKey.SecretAccessKey[:39], tc.key.SecretAccessKey, strings.TrimSpace(tc.key.SecretAccessKey)} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error %q contains the secret", msg)
				}
			}
			if tc.key.AccessKeyID != "" && strings.Contains(msg, strings.TrimSpace(tc.key.AccessKeyID)) {
				t.Errorf("error %q repeats the id field, which may hold a pasted secret", msg)
			}
		})
	}
}

func TestPutAccessKeyValidatesFirst(t *testing.T) {
	ctx := testContext(t)
	s := NewMemory()
	bad := AccessKey{AccessKeyID: "AKIA12345678", SecretAccessKey: testKey.SecretAccessKey}
	if err := PutAccessKey(ctx, s, "p", bad); !errors.Is(err, ErrInvalidAccessKey) {
		t.Fatalf("PutAccessKey of a bad key: err = %v", err)
	}
	if err := PutAccessKey(ctx, s, "bad/name", testKey); err == nil {
		t.Fatal("PutAccessKey accepted a bad profile name")
	}
	mustProfiles(t, s)
}

func TestGetAccessKeyDamaged(t *testing.T) {
	ctx := testContext(t)
	s := NewMemory()
	stored := map[string]string{
		"notjson":   "x" + testKey.SecretAccessKey,
		"invalid":   `{"access_key_id":"AKIA1","secret_access_key":"` + testKey.SecretAccessKey + `"}`,
		"wrongtype": `{"access_key_id":1,"secret_access_key":"` + testKey.SecretAccessKey + `"}`,
	}
	for profile, raw := range stored {
		if err := s.Set(ctx, profile, AccessKeyItem, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		_, err := GetAccessKey(ctx, s, profile)
		if err == nil {
			t.Fatalf("%s: GetAccessKey succeeded", profile)
		}
		if strings.Contains(err.Error(), testKey.SecretAccessKey) || strings.Contains(err.Error(), "x"+testKey.SecretAccessKey[:1]) {
			t.Errorf("%s: error %q shows stored bytes", profile, err)
		}
		if !strings.Contains(err.Error(), "mfad add "+profile) {
			t.Errorf("%s: error %q should say how to fix it", profile, err)
		}
	}
}

func TestValidateProfileName(t *testing.T) {
	for _, ok := range []string{"a", "prod", "Prod_2.x-y", "_private", strings.Repeat("a", 64), "1"} {
		if err := ValidateProfileName(ok); err != nil {
			t.Errorf("ValidateProfileName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "-flag", "a/b", "a b", "é", "a:b", strings.Repeat("a", 65), "a\x00"} {
		err := ValidateProfileName(bad)
		if err == nil {
			t.Errorf("ValidateProfileName(%q) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "profile name") {
			t.Errorf("ValidateProfileName(%q) = %q; should say it is about the profile name", bad, err)
		}
	}
}
