package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestExampleConfig loads the shipped example and checks that it mentions
// every key the loader knows, so the two cannot drift apart.
func TestExampleConfig(t *testing.T) {
	f := newFixture(t)
	c, err := f.load("config.example.yaml")
	if err != nil {
		t.Fatalf("example does not load: %v", err)
	}
	w, err := c.Profile("work")
	if err != nil {
		t.Fatal(err)
	}
	if w.MFASerial == "" || w.SessionDuration != 12*time.Hour || w.MFASource != MFASourcePrompt {
		t.Errorf("work = %+v", w)
	}
	a, err := c.Profile("work-admin")
	if err != nil {
		t.Fatal(err)
	}
	if a.MFASerial != w.MFASerial || a.KeyProfile() != "work" {
		t.Errorf("work-admin = %+v", a)
	}

	var doc map[string]any
	if err := yaml.Unmarshal([]byte(ExampleConfig()), &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if strings.HasPrefix(prefix, "profiles.") && strings.Count(prefix, ".") == 2 {
				path = "profiles.NAME." + k
			}
			present[path] = true
			if sub, ok := v.(map[string]any); ok && strings.Count(path, ".") < 2 {
				walk(path+".", sub)
			}
		}
	}
	walk("", doc)
	for _, k := range keyPaths() {
		if !present[k] {
			t.Errorf("config.example.yaml does not show key %s", k)
		}
	}
	for _, k := range profileKeys() {
		if !strings.Contains(ExampleConfig(), "    "+k.key+":") {
			t.Errorf("config.example.yaml does not document profile key %s", k.key)
		}
	}
}

// TestDocsMentionEveryKey keeps docs/configuration.md in step with the loader.
func TestDocsMentionEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("reading the configuration reference: %v", err)
	}
	doc := string(data)
	mention := func(s string) {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/configuration.md does not mention %q", s)
		}
	}
	for _, k := range keyPaths() {
		mention("`" + strings.TrimPrefix(k, "profiles.NAME.") + "`")
	}
	for _, v := range []string{"MFAD_LISTEN", "MFAD_STS_ENDPOINT", "MFAD_KEYRING_BACKEND", "MFAD_KEYRING_FILE", "MFAD_CONFIG", "MFAD_PROFILE_", "AWS_CONFIG_FILE", "XDG_CONFIG_HOME", "XDG_DATA_HOME"} {
		mention(v)
	}
}
