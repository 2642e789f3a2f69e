package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad runs Load on fuzzed mfad YAML, AWS config INI and MFAD_*
// environment variables. It must never panic and must return either a
// configuration or an error; a configuration it returns must hold what
// the daemon relies on: a 127.0.0.1 listen address, valid profile names,
// source profiles that exist and hold keys, and durations AWS accepts.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("keyring:\n  backend: file\n  file: ~/k.enc\nlisten: 127.0.0.1:0\nsts_endpoint: http://127.0.0.1:4566\nlock_on_sleep: true\nprofiles:\n  work:\n    mfa_serial: arn:aws:iam::111122223333:mfa/alice\n    region: eu-west-1\n    session_duration: 12h\n    mfa_max_age: 1h\n    mfa_source: process\n    mfa_process: ykman oath accounts code -s aws\n    refresh_lead: 20m\n    mfa_lead: 15m\n    policy_files: [p.json]\n  work-admin:\n    role_arn: arn:aws:iam::444455556666:role/Admin\n    source_profile: work\n    role_session_name: alice\n    external_id: ext-1\n    role_duration: 3600\n"), []byte(""), "")
	f.Add([]byte("profiles:\n  work:\n    mfa_serial: arn:aws:iam::111122223333:mfa/alice\n"), []byte(""), "MFAD_LISTEN=127.0.0.1:9911")
	f.Add([]byte("listen: 0.0.0.0:80\n"), []byte(""), "")
	f.Add([]byte(""), []byte("[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\nregion = eu-west-1\n\n[profile admin]\nrole_arn = arn:aws:iam::111122223333:role/admin\nsource_profile = work\nduration_seconds = 7200\n"), "")
	f.Add([]byte("profiles:\n  a:\n    role_arn: arn:aws:iam::111122223333:role/x\n    source_profile: b\n  b:\n    role_arn: arn:aws:iam::111122223333:role/y\n    source_profile: a\n"), []byte(""), "")
	f.Add([]byte("a: &a [*a, *a]\nprofiles: *a\n"), []byte("[default]\ns3 =\n  max_concurrent_requests = 10\n"), "MFAD_PROFILE_WORK_MFA_MAX_AGE=1h\nMFAD_KEYRING_BACKEND=file")
	f.Add([]byte("profiles:\n  work:\n    session_duration: 99999999999999h\n"), []byte("[profile work]\nmfa_serial=\n"), "MFAD_PROFILE_WORK_SESSION_DURATION=-1")
	f.Fuzz(func(t *testing.T, mfadYAML, awsINI []byte, envLines string) {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "mfad.yaml")
		awsPath := filepath.Join(dir, "aws-config")
		if err := os.WriteFile(cfgPath, mfadYAML, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(awsPath, awsINI, 0o600); err != nil {
			t.Fatal(err)
		}
		env := testEnv{"AWS_CONFIG_FILE": awsPath}
		for _, l := range strings.Split(envLines, "\n") {
			k, v, ok := strings.Cut(l, "=")
			// Variables that name other files stay pointed at the fuzzed ones.
			if ok && strings.HasPrefix(k, "MFAD_") && k != "MFAD_CONFIG" {
				env[k] = v
			}
		}
		cfg, err := Load(LoadOptions{File: cfgPath, Getenv: env.get, HomeDir: dir})
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Load returned %v and %v: want exactly one", cfg, err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := validateListen(cfg.Listen); err != nil {
			t.Fatalf("listen %q accepted: %v", cfg.Listen, err)
		}
		switch cfg.Keyring.Backend {
		case KeyringAuto, KeyringOS, KeyringFile:
		default:
			t.Fatalf("keyring backend %q accepted", cfg.Keyring.Backend)
		}
		if cfg.STSEndpoint != "" {
			if err := validateEndpoint(cfg.STSEndpoint); err != nil {
				t.Fatalf("sts_endpoint %q accepted: %v", cfg.STSEndpoint, err)
			}
		}
		for name, p := range cfg.Profiles {
			if p == nil || p.Name != name {
				t.Fatalf("profile %q: %+v", name, p)
			}
			if err := ValidateProfileName(name); err != nil {
				t.Fatalf("profile name %q accepted: %v", name, err)
			}
			kp := cfg.Profiles[p.KeyProfile()]
			if kp == nil || kp.SourceProfile != "" {
				t.Fatalf("profile %q: its keys would come from %q, which does not hold keys", name, p.KeyProfile())
			}
			if p.SessionDuration < MinSessionDuration || p.SessionDuration > MaxSessionDuration {
				t.Fatalf("profile %q: session_duration %v accepted", name, p.SessionDuration)
			}
			if p.IsRole() && (p.RoleDuration < MinRoleDuration || p.RoleDuration > MaxChainedRoleDuration) {
				t.Fatalf("profile %q: role_duration %v accepted for a role assumed from an MFA session", name, p.RoleDuration)
			}
			if p.RefreshLead <= 0 || p.MFALead <= 0 || p.MFAMaxAge < 0 || p.MFAMaxAge > 0 && p.MFAMaxAge < time.Minute {
				t.Fatalf("profile %q: leads %v %v, mfa_max_age %v accepted", name, p.RefreshLead, p.MFALead, p.MFAMaxAge)
			}
		}
	})
}
