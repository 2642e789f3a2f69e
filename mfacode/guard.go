package mfacode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// Step is the TOTP step of AWS MFA devices.
const Step = 30 * time.Second

// maxWaits bounds how often OnceGuard waits for one step boundary, in case
// the clock does not advance as the wait promised.
const maxWaits = 4

// OnceGuard makes sure a code is never sent twice: after a code for an MFA
// device has been produced or used, it waits for the next TOTP step before
// producing or asking for another one for that device. It remembers, per
// device, when the current step ends and a keyed SHA-256 hash of the last
// code, never the code itself. Share one guard between all profiles.
type OnceGuard struct {
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
	salt [32]byte

	mu      sync.Mutex
	devices map[string]*guardDevice
}

type guardDevice struct {
	// turn serialises code production for the device (a one-slot semaphore).
	turn chan struct{}
	// next is when the step of the last code ends: no code before then.
	next time.Time
	// hash is the keyed hash of the last code; hashUntil is when it stops
	// mattering (one step after next, covering AWS's clock-skew allowance).
	hash      []byte
	hashUntil time.Time
}

// NewOnceGuard returns a guard using clock now (default time.Now) and wait
// (default Sleep) to wait for the next step.
func NewOnceGuard(now func() time.Time, wait func(ctx context.Context, d time.Duration) error) *OnceGuard {
	if now == nil {
		now = time.Now
	}
	if wait == nil {
		wait = Sleep
	}
	g := &OnceGuard{now: now, wait: wait, devices: map[string]*guardDevice{}}
	_, _ = rand.Read(g.salt[:]) // never fails (crypto/rand aborts the program instead)
	return g
}

// Wrap returns src guarded: before producing a code for an MFA device whose
// last code was produced or used in the current step, it waits until the
// next step begins. Concurrent requests for one device take turns. Sources
// with a Period() time.Duration method (TOTP) use their own step length.
func (g *OnceGuard) Wrap(src Source) Source {
	return &guarded{g: g, src: src}
}

// Used records that a code for serial was used (e.g. a person's code was
// accepted) at time at.
func (g *OnceGuard) Used(serial string, at time.Time) {
	g.record(serial, "", at, Step)
}

// UsedCode records that code was used for serial at time at, so that
// CheckHuman can refuse it if it is entered again. Only a keyed hash of the
// code is kept.
func (g *OnceGuard) UsedCode(serial, code string, at time.Time) {
	g.record(serial, code, at, Step)
}

// CheckHuman refuses a code a person entered if it equals the last code used
// for serial while that code could still be current.
func (g *OnceGuard) CheckHuman(serial, code string, at time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.devices[serial]
	if d == nil || d.hash == nil || !at.Before(d.hashUntil) || !hmac.Equal(d.hash, g.hash(code)) {
		return nil
	}
	return fmt.Errorf("this code was just used; AWS accepts each code once: wait for the next code (about %ds)", secondsToNextStep(at, Step))
}

func (g *OnceGuard) device(serial string) *guardDevice {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.devices[serial]
	if d == nil {
		d = &guardDevice{turn: make(chan struct{}, 1)}
		g.devices[serial] = d
	}
	return d
}

func (g *OnceGuard) record(serial, code string, at time.Time, period time.Duration) {
	d := g.device(serial)
	g.mu.Lock()
	defer g.mu.Unlock()
	next := stepEnd(at, period)
	if next.After(d.next) {
		d.next = next
	}
	if code != "" {
		d.hash = g.hash(code)
		d.hashUntil = next.Add(period)
	}
}

func (g *OnceGuard) hash(code string) []byte {
	m := hmac.New(sha256.New, g.salt[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// untilNext returns how long until serial may have a new code.
func (g *OnceGuard) untilNext(d *guardDevice) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return d.next.Sub(g.now())
}

type guarded struct {
	g   *OnceGuard
	src Source
}

func (s *guarded) Name() string { return s.src.Name() }

func (s *guarded) Code(ctx context.Context, req Request) (string, error) {
	g := s.g
	d := g.device(req.MFASerial)
	select {
	case d.turn <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for another MFA code request for %s: %w", req.MFASerial, ctx.Err())
	}
	defer func() { <-d.turn }()

	for i := 0; ; i++ {
		wait := g.untilNext(d)
		if wait <= 0 {
			break
		}
		if i == maxWaits {
			return "", fmt.Errorf("the clock did not reach the next MFA code step for %s after waiting %d times: check the system clock", req.MFASerial, maxWaits)
		}
		if err := g.wait(ctx, wait); err != nil {
			return "", fmt.Errorf("waiting %s for the next MFA code for %s (AWS accepts each code once): %w", wait.Round(time.Second), req.MFASerial, err)
		}
	}

	code, err := s.src.Code(ctx, req)
	if err != nil {
		return "", err
	}
	period := Step
	if p, ok := s.src.(interface{ Period() time.Duration }); ok && p.Period() > 0 {
		period = p.Period()
	}
	g.record(req.MFASerial, code, g.now(), period)
	return code, nil
}

// stepEnd returns when the step of length period containing t ends.
func stepEnd(t time.Time, period time.Duration) time.Time {
	p := int64(period / time.Second)
	if p <= 0 {
		p = int64(Step / time.Second)
	}
	u := t.Unix()
	start := u - ((u%p)+p)%p
	return time.Unix(start+p, 0)
}

// secondsToNextStep returns the whole seconds, at least 1, until the next step.
func secondsToNextStep(t time.Time, period time.Duration) int {
	d := stepEnd(t, period).Sub(t)
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
