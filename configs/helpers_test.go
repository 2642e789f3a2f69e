package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testEnv is a fake environment.
type testEnv map[string]string

func (e testEnv) get(k string) string { return e[k] }

// writeFile writes content to dir/rel, creating folders, and returns the path.
func writeFile(t *testing.T, dir, rel, content string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is a fake home with optional mfad and AWS config files.
type fixture struct {
	home string
	env  testEnv
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{home: t.TempDir(), env: testEnv{}}
}

// mfad writes the default mfad configuration file.
func (f *fixture) mfad(t *testing.T, content string) string {
	t.Helper()
	return writeFile(t, f.home, ".config/mfad/config.yaml", content)
}

// aws writes the default AWS config file.
func (f *fixture) aws(t *testing.T, content string) string {
	t.Helper()
	return writeFile(t, f.home, ".aws/config", content)
}

func (f *fixture) load(file string) (*Config, error) {
	return Load(LoadOptions{File: file, Getenv: f.env.get, HomeDir: f.home})
}

func (f *fixture) mustLoad(t *testing.T) *Config {
	t.Helper()
	c, err := f.load("")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// wantErr loads and checks that the error contains every fragment.
func (f *fixture) wantErr(t *testing.T, fragments ...string) error {
	t.Helper()
	_, err := f.load("")
	if err == nil {
		t.Fatalf("Load succeeded; want an error containing %q", fragments)
	}
	for _, frag := range fragments {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q\ndoes not contain %q", err, frag)
		}
	}
	return err
}

const (
	serialAlice = "arn:aws:iam::111122223333:mfa/alice"
	serialBob   = "arn:aws:iam::111122223333:mfa/bob"
)
