// Package testenv builds the pieces mfad's tests share: an STS emulator on
// a fake clock with a user, an MFA device and an MFA-protected role, and a
// configuration and keystore that point at it.
package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// Start is the fake clock's starting time in every test.
var Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Env is one test's world.
type Env struct {
	T       testing.TB
	Clock   *clock.Fake
	Emu     *stsemu.Server
	User    stsemu.User
	RoleARN string
	Config  *configs.Config
	Store   keystore.Store
	Log     *SafeBuffer
	Logger  *slog.Logger
}

// New starts an emulator on a fake clock with user "alice" and role "admin"
// (MFA required), and a configuration with profiles "work" (alice's MFA
// session) and "admin" (the role, from work).
func New(t testing.TB) *Env {
	t.Helper()
	clk := clock.NewFake(Start)
	e := &Env{T: t, Clock: clk, Log: &SafeBuffer{}}
	e.Logger = slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the failed test:\n%s", e.Log.String())
		}
	})
	emu, err := stsemu.Start(stsemu.Options{Now: clk.Now, Logger: e.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	e.Emu = emu
	if e.User, err = emu.AddUser("alice"); err != nil {
		t.Fatal(err)
	}
	e.RoleARN = emu.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	work := configs.NewProfile("work")
	work.MFASerial, work.Region, work.Sources = e.User.MFASerial, "eu-west-1", []string{configs.SourceMFAD}
	admin := *work
	admin.Name, admin.RoleARN, admin.SourceProfile = "admin", e.RoleARN, "work"
	e.Config = &configs.Config{Listen: "127.0.0.1:0", STSEndpoint: emu.URL,
		Keyring: configs.Keyring{Backend: "memory"}, Profiles: map[string]*configs.Profile{"work": work, "admin": &admin}}
	e.Store = keystore.NewMemory()
	if err := keystore.PutAccessKey(context.Background(), e.Store, "work", e.Key()); err != nil {
		t.Fatal(err)
	}
	return e
}

// Key is alice's long-term key.
func (e *Env) Key() keystore.AccessKey {
	return keystore.AccessKey{AccessKeyID: e.User.AccessKeyID, SecretAccessKey: e.User.SecretAccessKey}
}

// Code is the MFA code valid now on the fake clock.
func (e *Env) Code() string { return e.Emu.Code(e.User, e.Clock.Now()) }

// NextCode advances the clock to the next 30-second TOTP step and returns
// its code (AWS accepts each code once).
func (e *Env) NextCode() string {
	now := e.Clock.Now()
	next := now.Truncate(30 * time.Second).Add(30 * time.Second)
	e.Clock.Set(next)
	return e.Code()
}

// Broker returns a broker on the emulator and the fake clock, with short
// retry backoff.
func (e *Env) Broker() *session.Broker {
	return session.NewBroker(session.BrokerOptions{Endpoint: e.Emu.URL, Clock: e.Clock, Logger: e.Logger, MaxBackoff: 10 * time.Millisecond})
}

// Count returns how many calls of action the emulator has seen ("" = all).
func (e *Env) Count(action string) int {
	n := 0
	for _, c := range e.Emu.Calls() {
		if action == "" || c.Action == action {
			n++
		}
	}
	return n
}

// Secrets lists every secret the test world holds, for no-leak checks.
func (e *Env) Secrets(extra ...string) []string {
	return append([]string{e.User.SecretAccessKey, e.User.TOTPSecret}, extra...)
}

// AssertNoSecret fails the test when any of secrets appears in text.
func AssertNoSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && bytes.Contains([]byte(text), []byte(s)) {
			t.Errorf("%s contains a secret (%d characters)", what, len(s))
		}
	}
}

// SafeBuffer is a bytes.Buffer safe for concurrent writers.
type SafeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SafeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns the contents.
func (s *SafeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond (real time, for background goroutines to finish) for
// up to 10 seconds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
