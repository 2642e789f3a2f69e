package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestConcurrentEditsKeepEveryValue: edits at once, each through its own
// lock file handle as separate processes would, lose nothing.
func TestConcurrentEditsKeepEveryValue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mfad", "config.yaml")
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for j := range 4 {
				if err := SetProfileValue(file, fmt.Sprintf("p%02d", i), fmt.Sprintf("k%d", j), "v"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Profiles map[string]map[string]string `yaml:"profiles"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got := len(doc.Profiles[fmt.Sprintf("p%02d", i)]); got != 4 {
			t.Fatalf("profile p%02d has %d of its 4 keys:\n%s", i, got, b)
		}
	}
}
