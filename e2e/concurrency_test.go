package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestLockAllWhileExecsHoldEverySlot: 64 `mfad exec` commands hold every
// ordinary control connection while their commands run; `mfad status`,
// `mfad tokens list`, `mfad tokens revoke` and the emergency `mfad lock
// --all` still get through, in the slots the daemon keeps for them, while a
// 65th `mfad exec` is told the daemon is busy.
func TestLockAllWhileExecsHoldEverySlot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 64 processes")
	}
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	const holders = 64 // ipc.DefaultMaxConns
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			c.Wait()
		}
	})
	// Each command marks that it runs (mfad exec starts it once its token
	// is issued). The test waits for the marks, not on the socket: a
	// control call made while the execs connect would hold an ordinary
	// slot and turn the last exec away.
	marks := t.TempDir()
	for i := range holders {
		mark := filepath.Join(marks, strconv.Itoa(i))
		c := exec.Command(w.bin, "exec", "--profile", "work", "--", "sh", "-c", `: > "$0"; exec sleep 600`, mark)
		c.Env = w.env
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	// Starting 64 processes takes a while on a loaded machine.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		entries, err := os.ReadDir(marks)
		if err == nil && len(entries) == holders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d commands run by mfad exec after 2 minutes", len(entries), holders)
		}
	}
	var tokens struct {
		Tokens []struct{ ID, Kind string }
	}
	if err := json.Unmarshal([]byte(w.must(nil, "tokens", "list", "--json")), &tokens); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tk := range tokens.Tokens {
		if tk.Kind == "exec" {
			n++
		}
	}
	if n != holders {
		t.Fatalf("%d exec tokens listed, want %d: %+v", n, holders, tokens.Tokens)
	}
	// Every ordinary slot is held: one more exec is refused, and says why.
	_, errOut, err := w.run(nil, "exec", "--profile", "work", "--", "true")
	if err == nil || !strings.Contains(errOut, "status, lock and token revocation") {
		t.Fatalf("a 65th exec: %v\n%s", err, errOut)
	}
	if out := w.must(nil, "status"); !strings.Contains(out, "work") {
		t.Fatalf("status: %s", out)
	}
	var victim string
	for _, tk := range tokens.Tokens {
		if tk.Kind == "exec" {
			victim = tk.ID
			break
		}
	}
	if out := w.must(nil, "tokens", "revoke", victim); !strings.Contains(out, "Revoked token "+victim) {
		t.Fatalf("tokens revoke: %s", out)
	}
	out := w.must(nil, "lock", "--all")
	st := w.must(nil, "status", "--json")
	if strings.Contains(st, `"unlocked": true`) || !strings.Contains(st, `"unlocked": false`) {
		t.Fatalf("after `mfad lock --all` (%q), status says:\n%s", out, st)
	}
}
