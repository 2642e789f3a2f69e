package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/c0950fac/mfad/configs"
)

// TestConcurrentAddsKeepEverySerial runs 16 `mfad add --mfa-serial` at
// once: each edit of the configuration file is made under its lock, on what
// the file holds then, so every profile keeps its serial and key.
func TestConcurrentAddsKeepEverySerial(t *testing.T) {
	w := newWorld(t)
	const n = 16
	name := func(i int) string { return fmt.Sprintf("team%02d", i) }
	serial := func(i int) string { return fmt.Sprintf("arn:aws:iam::123456789012:mfa/user%02d", i) }
	t.Cleanup(func() {
		for i := range n {
			w.run(nil, "remove", name(i), "--force")
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]string, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("AKIACONCURRENT%06d\n%s%010d\n", i, strings.Repeat("s", 30), i)
			out, errOut, err := w.run([]byte(key), "add", name(i), "--mfa-serial", serial(i))
			errs[i], outs[i] = err, out+errOut
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %s: %v\n%s", name(i), err, outs[i])
		}
	}
	cfg, err := configs.Load(configs.LoadOptions{File: w.cfgPath, Getenv: func(string) string { return "" }, HomeDir: w.home})
	if err != nil {
		b, _ := os.ReadFile(w.cfgPath)
		t.Fatalf("%v\n%s", err, b)
	}
	for i := range n {
		p := cfg.Profiles[name(i)]
		if p == nil || p.MFASerial != serial(i) {
			b, _ := os.ReadFile(w.cfgPath)
			t.Fatalf("profile %s lost its mfa_serial:\n%s", name(i), b)
		}
	}
	if _, ok := cfg.Profiles["work"]; !ok {
		t.Fatal("the profiles already configured were lost")
	}
	list := w.must(nil, "list")
	for i := range n {
		if !strings.Contains(list, name(i)) {
			t.Errorf("`mfad list` lacks %s:\n%s", name(i), list)
		}
	}
}
