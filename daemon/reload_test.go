package daemon_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
)

// cloneConfig copies cfg and its profiles, as a new load would.
func cloneConfig(cfg *configs.Config) *configs.Config {
	c := *cfg
	c.Profiles = map[string]*configs.Profile{}
	for n, p := range cfg.Profiles {
		cp := *p
		c.Profiles[n] = &cp
	}
	return &c
}

func TestReloadKeepsUnchangedSessions(t *testing.T) {
	e := testenv.New(t)
	d := newDaemon(t, e, nil)
	ctx := context.Background()
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	before, err := d.Credentials(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	calls := len(e.Emu.Calls())

	// Fetches go on while the configuration changes under them.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := d.Credentials(ctx, "work"); err != nil {
				t.Errorf("work during reloads: %v", err)
				return
			}
		}
	}()

	// A new role profile; admin and work unchanged.
	cfg := cloneConfig(e.Config)
	ops := *cfg.Profiles["admin"]
	ops.Name = "ops"
	cfg.Profiles["ops"] = &ops
	if err := d.Reload(ctx, func() (*configs.Config, error) { return cfg, nil }); err != nil {
		t.Fatal(err)
	}
	after, err := d.Credentials(ctx, "admin")
	if err != nil || after.AccessKeyID != before.AccessKeyID {
		t.Fatalf("admin lost its role session: %v %v", after.AccessKeyID, err)
	}
	testenv.WaitFor(t, "ops to be served", func() bool {
		_, err := d.Credentials(ctx, "ops")
		return err == nil
	})
	for _, c := range e.Emu.Calls()[calls:] {
		if c.Action == "GetSessionToken" {
			t.Fatal("the reload asked for a new MFA session")
		}
	}

	// A refused configuration keeps the old one and says why.
	bad := errors.New("config.yaml: invalid YAML")
	if err := d.Reload(ctx, func() (*configs.Config, error) { return nil, bad }); !errors.Is(err, daemon.ErrConfigRefused) {
		t.Fatalf("Reload of a broken configuration: %v", err)
	}
	if !strings.Contains(d.ConfigError(), "invalid YAML") {
		t.Fatalf("ConfigError = %q", d.ConfigError())
	}
	broken := cloneConfig(cfg)
	broken.Profiles["orphan"] = &configs.Profile{Name: "orphan", RoleARN: e.RoleARN, SourceProfile: "nowhere"}
	if err := d.Reload(ctx, func() (*configs.Config, error) { return broken, nil }); !errors.Is(err, daemon.ErrConfigRefused) {
		t.Fatalf("Reload of a configuration that cannot be served: %v", err)
	}
	if _, err := d.Credentials(ctx, "ops"); err != nil {
		t.Fatalf("ops after a refused change: %v", err)
	}

	// ops removed, admin's role changed: ops is gone, admin assumes its
	// new role from work's kept MFA session.
	cfg2 := cloneConfig(e.Config)
	cfg2.Profiles["admin"].RoleARN = e.Emu.AddRole("auditor", stsemu.RoleOptions{RequireMFA: true})
	if err := d.Reload(ctx, func() (*configs.Config, error) { return cfg2, nil }); err != nil {
		t.Fatal(err)
	}
	if d.ConfigError() != "" {
		t.Fatalf("the refusal stays after a good change: %q", d.ConfigError())
	}
	if _, err := d.Credentials(ctx, "ops"); err == nil || !strings.Contains(err.Error(), "ops") {
		t.Fatalf("ops after its removal: %v", err)
	}
	testenv.WaitFor(t, "admin's new role session", func() bool {
		c, err := d.Credentials(ctx, "admin")
		return err == nil && c.AccessKeyID != before.AccessKeyID
	})
	if st := d.Status("admin")[0]; st.RoleARN != cfg2.Profiles["admin"].RoleARN {
		t.Fatalf("admin's role after the change: %s", st.RoleARN)
	}
	close(stop)
	wg.Wait()
	if n := e.Count("GetSessionToken"); n != 1 {
		t.Fatalf("%d GetSessionToken calls", n)
	}

	// A role profile removed and added back gets its cached role session
	// (no STS call); one locked on its own stays locked.
	without := cloneConfig(cfg2)
	delete(without.Profiles, "admin")
	if err := d.Reload(ctx, func() (*configs.Config, error) { return without, nil }); err != nil {
		t.Fatal(err)
	}
	roleCalls := e.Count("AssumeRole")
	back := cloneConfig(cfg2)
	if err := d.Reload(ctx, func() (*configs.Config, error) { return back, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Credentials(ctx, "admin"); err != nil {
		t.Fatalf("admin added back: %v", err)
	}
	if n := e.Count("AssumeRole"); n != roleCalls {
		t.Fatalf("admin added back assumed its role again (%d calls)", n-roleCalls)
	}
	if _, err := d.Lock(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx, func() (*configs.Config, error) { return without, nil }); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx, func() (*configs.Config, error) { return cloneConfig(cfg2), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Credentials(ctx, "admin"); !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("admin, locked on its own, after removal and return: %v", err)
	}
	if _, err := d.Credentials(ctx, "work"); err != nil {
		t.Fatalf("work: %v", err)
	}
}
