package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigFilePrecedence(t *testing.T) {
	tests := []struct {
		name                  string
		flag, mfadConfig, xdg bool
		wantListen            string
	}{
		{name: "flag wins over everything", flag: true, mfadConfig: true, xdg: true, wantListen: "127.0.0.1:1001"},
		{name: "MFAD_CONFIG wins over XDG and HOME", mfadConfig: true, xdg: true, wantListen: "127.0.0.1:1002"},
		{name: "XDG_CONFIG_HOME wins over HOME", xdg: true, wantListen: "127.0.0.1:1003"},
		{name: "HOME last", wantListen: "127.0.0.1:1004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			other := t.TempDir()
			flagFile := writeFile(t, other, "flag.yaml", "listen: 127.0.0.1:1001\n")
			envFile := writeFile(t, other, "env.yaml", "listen: 127.0.0.1:1002\n")
			xdgFile := writeFile(t, other, "xdg/mfad/config.yaml", "listen: 127.0.0.1:1003\n")
			homeFile := f.mfad(t, "listen: 127.0.0.1:1004\n")
			want := homeFile
			var flag string
			if tt.flag {
				flag, want = flagFile, flagFile
			}
			if tt.mfadConfig {
				f.env["MFAD_CONFIG"] = envFile
				if !tt.flag {
					want = envFile
				}
			}
			if tt.xdg {
				f.env["XDG_CONFIG_HOME"] = filepath.Join(other, "xdg")
				if !tt.flag && !tt.mfadConfig {
					want = xdgFile
				}
			}
			c, err := f.load(flag)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != want || c.Path != want {
				t.Errorf("File, Path = %q, %q; want %q", c.File, c.Path, want)
			}
			if c.Listen != tt.wantListen {
				t.Errorf("Listen = %q; want %q", c.Listen, tt.wantListen)
			}
		})
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		env  testEnv
		home string
		want string
	}{
		{testEnv{}, "/home/a", "/home/a/.config/mfad/config.yaml"},
		{testEnv{"XDG_CONFIG_HOME": "/xdg"}, "/home/a", "/xdg/mfad/config.yaml"},
		{testEnv{"XDG_CONFIG_HOME": "relative"}, "/home/a", "/home/a/.config/mfad/config.yaml"},
		{testEnv{}, "", ""},
	}
	for _, tt := range tests {
		if got := DefaultPath(tt.env.get, tt.home); got != filepath.FromSlash(tt.want) {
			t.Errorf("DefaultPath(%v, %q) = %q; want %q", tt.env, tt.home, got, tt.want)
		}
	}
}

func TestMissingFile(t *testing.T) {
	t.Run("flag", func(t *testing.T) {
		f := newFixture(t)
		missing := filepath.Join(f.home, "nope.yaml")
		_, err := f.load(missing)
		if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "--config") || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v; want one naming %s and --config, wrapping fs.ErrNotExist", err, missing)
		}
	})
	t.Run("MFAD_CONFIG", func(t *testing.T) {
		f := newFixture(t)
		f.env["MFAD_CONFIG"] = filepath.Join(f.home, "nope.yaml")
		f.wantErr(t, f.env["MFAD_CONFIG"], "MFAD_CONFIG", "does not exist")
	})
	t.Run("default path missing means defaults", func(t *testing.T) {
		f := newFixture(t)
		c := f.mustLoad(t)
		if c.File != "" || c.Path != filepath.Join(f.home, ".config", "mfad", "config.yaml") {
			t.Errorf("File, Path = %q, %q", c.File, c.Path)
		}
		if len(c.Profiles) != 0 {
			t.Errorf("Profiles = %v; want none", c.ProfileNames())
		}
	})
	t.Run("no home at all", func(t *testing.T) {
		c, err := Load(LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Path != "" || c.Listen != DefaultListen || c.Keyring.File != "" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("tilde in MFAD_CONFIG", func(t *testing.T) {
		f := newFixture(t)
		writeFile(t, f.home, "cfg/m.yaml", "listen: 127.0.0.1:7\n")
		f.env["MFAD_CONFIG"] = "~/cfg/m.yaml"
		if c := f.mustLoad(t); c.Listen != "127.0.0.1:7" {
			t.Errorf("Listen = %q", c.Listen)
		}
	})
}

func TestDefaults(t *testing.T) {
	f := newFixture(t)
	f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n")
	c := f.mustLoad(t)
	if c.Listen != "127.0.0.1:0" || c.Keyring.Backend != "auto" || c.STSEndpoint != "" {
		t.Errorf("top-level = %q %q %q", c.Listen, c.Keyring.Backend, c.STSEndpoint)
	}
	if want := filepath.Join(f.home, ".local", "share", "mfad", "keystore.enc"); c.Keyring.File != want {
		t.Errorf("Keyring.File = %q; want %q", c.Keyring.File, want)
	}
	got := c.Profiles["work"]
	want := &Profile{
		Name: "work", MFASerial: serialAlice, Region: "us-east-1",
		SessionDuration: 12 * time.Hour, RoleDuration: time.Hour, MFASource: "prompt",
		MFAProcessTimeout: 30 * time.Second, RefreshLead: 20 * time.Minute, MFALead: 15 * time.Minute,
		Sources: []string{"mfad"},
	}
	// The region is mfad's fallback, set nowhere.
	if !got.RegionIsDefault {
		t.Error("RegionIsDefault is false for a region set nowhere")
	}
	got.RegionIsDefault = false
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profile = %+v\nwant      %+v", got, want)
	}
	// NewProfile is those defaults.
	fresh := NewProfile("work")
	fresh.MFASerial, fresh.Sources = serialAlice, []string{"mfad"}
	if !reflect.DeepEqual(fresh, want) {
		t.Errorf("NewProfile = %+v\nwant         %+v", fresh, want)
	}

	f.env["XDG_DATA_HOME"] = "/data"
	f.env["AWS_DEFAULT_REGION"] = "ap-south-1"
	c = f.mustLoad(t)
	if c.Keyring.File != filepath.FromSlash("/data/mfad/keystore.enc") || c.Profiles["work"].Region != "ap-south-1" {
		t.Errorf("Keyring.File, Region = %q, %q", c.Keyring.File, c.Profiles["work"].Region)
	}
	f.env["AWS_REGION"] = "eu-north-1"
	if c = f.mustLoad(t); c.Profiles["work"].Region != "eu-north-1" {
		t.Errorf("Region = %q; want AWS_REGION's", c.Profiles["work"].Region)
	}
}

func TestEnvOverrides(t *testing.T) {
	const file = `
listen: 127.0.0.1:1000
keyring:
  backend: os
profiles:
  work:
    mfa_serial: ` + serialAlice + `
    region: eu-west-1
  my-team.dev:
    mfa_serial: ` + serialBob + `
`
	tests := []struct {
		name  string
		env   testEnv
		check func(t *testing.T, c *Config)
	}{
		{"listen", testEnv{"MFAD_LISTEN": "127.0.0.1:9999"}, func(t *testing.T, c *Config) {
			if c.Listen != "127.0.0.1:9999" {
				t.Errorf("Listen = %q", c.Listen)
			}
		}},
		{"sts endpoint", testEnv{"MFAD_STS_ENDPOINT": "http://127.0.0.1:4566"}, func(t *testing.T, c *Config) {
			if c.STSEndpoint != "http://127.0.0.1:4566" {
				t.Errorf("STSEndpoint = %q", c.STSEndpoint)
			}
		}},
		{"keyring", testEnv{"MFAD_KEYRING_BACKEND": "file", "MFAD_KEYRING_FILE": "~/k.enc"}, func(t *testing.T, c *Config) {
			if c.Keyring.Backend != "file" || !strings.HasSuffix(c.Keyring.File, "k.enc") || strings.HasPrefix(c.Keyring.File, "~") {
				t.Errorf("Keyring = %+v", c.Keyring)
			}
		}},
		{"profile duration", testEnv{"MFAD_PROFILE_WORK_MFA_MAX_AGE": "1h", "MFAD_PROFILE_WORK_SESSION_DURATION": "3600"}, func(t *testing.T, c *Config) {
			if p := c.Profiles["work"]; p.MFAMaxAge != time.Hour || p.SessionDuration != time.Hour {
				t.Errorf("MFAMaxAge, SessionDuration = %v, %v", p.MFAMaxAge, p.SessionDuration)
			}
		}},
		{"profile name with - and .", testEnv{"MFAD_PROFILE_MY_TEAM_DEV_REGION": "us-west-2"}, func(t *testing.T, c *Config) {
			if r := c.Profiles["my-team.dev"].Region; r != "us-west-2" {
				t.Errorf("Region = %q", r)
			}
		}},
		{"env beats file", testEnv{"MFAD_PROFILE_WORK_REGION": "eu-central-1"}, func(t *testing.T, c *Config) {
			if r := c.Profiles["work"].Region; r != "eu-central-1" {
				t.Errorf("Region = %q", r)
			}
		}},
		{"policy files list", testEnv{"MFAD_PROFILE_WORK_POLICY_FILES": "/a.json" + string(filepath.ListSeparator) + "/b.json"}, func(t *testing.T, c *Config) {
			if got := c.Profiles["work"].PolicyFiles; !reflect.DeepEqual(got, []string{"/a.json", "/b.json"}) {
				t.Errorf("PolicyFiles = %q", got)
			}
		}},
		{"mfa_process implies process", testEnv{"MFAD_PROFILE_WORK_MFA_PROCESS": "ykman oath accounts code -s aws"}, func(t *testing.T, c *Config) {
			if s := c.Profiles["work"].MFASource; s != MFASourceProcess {
				t.Errorf("MFASource = %q", s)
			}
		}},
		{"unknown profile does not get created", testEnv{"MFAD_PROFILE_OTHER_REGION": "eu-west-2"}, func(t *testing.T, c *Config) {
			if _, ok := c.Profiles["other"]; ok {
				t.Error("profile other was created from the environment")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mfad(t, file)
			f.env = tt.env
			tt.check(t, f.mustLoad(t))
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  testEnv
		want []string
	}{
		{testEnv{"MFAD_PROFILE_WORK_SESSION_DURATION": "twelve"}, []string{"MFAD_PROFILE_WORK_SESSION_DURATION", `"twelve" is not a duration`, "12h"}},
		{testEnv{"MFAD_PROFILE_WORK_MFA_MAX_AGE": "1d"}, []string{"MFAD_PROFILE_WORK_MFA_MAX_AGE", "no day unit", "24h"}},
		{testEnv{"MFAD_LISTEN": "0.0.0.0:80"}, []string{"MFAD_LISTEN", "127.0.0.1 only"}},
		{testEnv{"MFAD_KEYRING_BACKEND": "vault"}, []string{"MFAD_KEYRING_BACKEND", "auto", "os", "file"}},
		{testEnv{"MFAD_PROFILE_WORK_MFA_SERIAL": "nope"}, []string{"MFAD_PROFILE_WORK_MFA_SERIAL", `"nope" is not an MFA device`}},
		{testEnv{"MFAD_PROFILE_A_B_REGION": "eu-west-1"}, []string{"MFAD_PROFILE_A_B_REGION is ambiguous", "a-b, a.b"}},
	}
	for _, tt := range tests {
		f := newFixture(t)
		f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n  a-b:\n    mfa_serial: "+serialAlice+"\n  a.b:\n    mfa_serial: "+serialAlice+"\n")
		f.env = tt.env
		f.wantErr(t, tt.want...)
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"profile typo", "profiles:\n  work:\n    mfa_serail: x\n", []string{"config.yaml:3", "unknown key profiles.work.mfa_serail", "did you mean mfa_serial?", "mfa_process_timeout", "source_profile"}},
		{"top-level typo", "listne: 127.0.0.1:0\n", []string{"config.yaml:1", "unknown key listne", "did you mean listen?", "iam_endpoint, keyring, listen, lock_on_screen_lock, lock_on_sleep, profiles, signin_endpoint, sts_endpoint"}},
		{"keyring typo", "keyring:\n  backnd: os\n", []string{"config.yaml:2", "unknown key keyring.backnd", "did you mean backend?"}},
		{"unrelated key lists valid keys", "profiles:\n  work:\n    colour: blue\n", []string{"unknown key profiles.work.colour", "valid keys here: external_id"}},
		{"dotted key", "keyring.backend: os\n", []string{"dotted keys are not supported"}},
		{"case duplicates", "profiles:\n  work: {}\n  Work: {}\n", []string{`"work" and "Work" differ only in case`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.mfad(t, tt.yaml)
			f.wantErr(t, append([]string{p}, tt.want...)...)
		})
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name, profileYAML string
		want              []string
	}{
		{"duration word", "session_duration: twelve", []string{"profiles.work.session_duration", `"twelve" is not a duration; use a Go duration such as 12h or 90m, or a number of seconds`}},
		{"duration bool", "role_duration: true", []string{"profiles.work.role_duration", "is not a duration"}},
		{"duration fraction", "role_duration: 1.5", []string{"profiles.work.role_duration", "not a whole number of seconds"}},
		{"string given a number", "external_id: 12345", []string{"profiles.work.external_id", "is not text; put the value in quotes"}},
		{"string given a list", "region: [eu-west-1]", []string{"profiles.work.region", "a list", "is not text"}},
		{"list given a string", "policy_files: p.json", []string{"profiles.work.policy_files", "is not a list"}},
		{"list of numbers", "policy_files: [1]", []string{"profiles.work.policy_files", "item 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n    "+tt.profileYAML+"\n")
			f.wantErr(t, append([]string{p + ":4"}, tt.want...)...)
		})
	}
	t.Run("top-level", func(t *testing.T) {
		f := newFixture(t)
		f.mfad(t, "listen: 8080\n")
		f.wantErr(t, "config.yaml:1", "listen", "8080 (a number) is not text")
	})
	t.Run("profiles not a mapping", func(t *testing.T) {
		f := newFixture(t)
		f.mfad(t, "profiles: [work]\n")
		f.wantErr(t, "profiles", "is not a mapping")
	})
	t.Run("profile not a mapping", func(t *testing.T) {
		f := newFixture(t)
		f.mfad(t, "profiles:\n  work: yes\n")
		f.wantErr(t, "profiles.work", "is not a mapping")
	})
	t.Run("durations as seconds", func(t *testing.T) {
		f := newFixture(t)
		f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n    session_duration: 3600\n    mfa_max_age: \"7200\"\n")
		p := f.mustLoad(t).Profiles["work"]
		if p.SessionDuration != time.Hour || p.MFAMaxAge != 2*time.Hour {
			t.Errorf("SessionDuration, MFAMaxAge = %v, %v", p.SessionDuration, p.MFAMaxAge)
		}
	})
}

func TestUnreadableFile(t *testing.T) {
	t.Run("directory in place of the file", func(t *testing.T) {
		f := newFixture(t)
		dir := filepath.Join(f.home, ".config", "mfad", "config.yaml")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f.wantErr(t, "cannot read configuration file "+dir)
	})
	t.Run("no permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		f := newFixture(t)
		p := f.mfad(t, "listen: 127.0.0.1:0\n")
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		err := f.wantErr(t, "cannot read configuration file "+p)
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("error does not wrap fs.ErrPermission: %v", err)
		}
	})
}

func TestBadYAML(t *testing.T) {
	f := newFixture(t)
	p := f.mfad(t, "profiles:\n  work:\n    region: eu-west-1\n\tmfa_serial: x\n")
	f.wantErr(t, p, "invalid YAML", "yaml: line 3")
	f.mfad(t, "profiles:\n  work: {}\n  work: {}\n")
	f.wantErr(t, "invalid YAML", "already defined")
}

func TestEmptyFile(t *testing.T) {
	f := newFixture(t)
	p := f.mfad(t, "# nothing yet\n")
	c := f.mustLoad(t)
	if c.File != p || c.Listen != DefaultListen {
		t.Errorf("File, Listen = %q, %q", c.File, c.Listen)
	}
}

func TestPathsInFile(t *testing.T) {
	f := newFixture(t)
	p := f.mfad(t, "keyring:\n  file: store.enc\nprofiles:\n  work:\n    mfa_serial: "+serialAlice+"\n    policy_files: [p.json, ~/q.json, /abs/r.json]\n")
	c := f.mustLoad(t)
	dir := filepath.Dir(p)
	if c.Keyring.File != filepath.Join(dir, "store.enc") {
		t.Errorf("Keyring.File = %q", c.Keyring.File)
	}
	want := []string{filepath.Join(dir, "p.json"), filepath.Join(f.home, "q.json"), "/abs/r.json"}
	if got := c.Profiles["work"].PolicyFiles; !reflect.DeepEqual(got, want) {
		t.Errorf("PolicyFiles = %q; want %q", got, want)
	}
}

func TestProfileLookup(t *testing.T) {
	f := newFixture(t)
	p := f.mfad(t, "profiles:\n  work:\n    mfa_serial: "+serialAlice+"\n  dev:\n    mfa_serial: "+serialBob+"\n")
	c := f.mustLoad(t)
	if got := c.ProfileNames(); !reflect.DeepEqual(got, []string{"dev", "work"}) {
		t.Errorf("ProfileNames = %q", got)
	}
	if pr, err := c.Profile("work"); err != nil || pr.MFASerial != serialAlice {
		t.Errorf("Profile(work) = %+v, %v", pr, err)
	}
	_, err := c.Profile("prod")
	if !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("err = %v; want ErrUnknownProfile", err)
	}
	for _, frag := range []string{`"prod"`, "known profiles: dev, work", "mfad add prod", "profiles.prod", p} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q does not contain %q", err, frag)
		}
	}
	_, err = (&Config{}).Profile("x")
	if err == nil || !strings.Contains(err.Error(), "no profiles are configured") {
		t.Errorf("empty config: err = %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"mfa_serail", "mfa_serial", 1}, {"", "abc", 3}, {"region", "region", 0}, {"lisen", "listen", 1}}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
