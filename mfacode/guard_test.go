package mfacode

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

const serial = "arn:aws:iam::111122223333:mfa/alice"

// stepStart is a TOTP step boundary (a multiple of 60s, so of 30s too).
func stepStart() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// countingSource returns codes from a TOTP secret and counts its calls.
type countingSource struct {
	mu    sync.Mutex
	inner Source
	calls []time.Time
	now   func() time.Time
}

func (c *countingSource) Name() string { return c.inner.Name() }
func (c *countingSource) Code(ctx context.Context, req Request) (string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, c.now())
	c.mu.Unlock()
	return c.inner.Code(ctx, req)
}

func TestOnceGuardWaitsForNextStep(t *testing.T) {
	clock := newFakeClock(stepStart().Add(10 * time.Second))
	src, err := NewTOTP(testSecret, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	g := NewOnceGuard(clock.Now, clock.Wait)
	guarded := g.Wrap(src)
	if guarded.Name() != "totp" {
		t.Errorf("Name() = %q", guarded.Name())
	}
	req := Request{Profile: "work", MFASerial: serial}

	first, err := guarded.Code(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 0 {
		t.Fatalf("first code waited %v", w)
	}
	second, err := guarded.Code(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 1 || w[0] != 20*time.Second {
		t.Fatalf("second code waited %v, want [20s] (to the step boundary)", w)
	}
	if !clock.Now().Equal(stepStart().Add(30 * time.Second)) {
		t.Errorf("second code made at %v, want the next step's start", clock.Now())
	}
	if first == second {
		t.Errorf("the same code was produced twice")
	}
	want, _ := totp.GenerateCode(testSecret, stepStart().Add(30*time.Second))
	if second != want {
		t.Errorf("second code %s, want the next step's %s", second, want)
	}

	// Another device is not held up.
	if _, err := guarded.Code(t.Context(), Request{Profile: "home", MFASerial: "other"}); err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 1 {
		t.Errorf("another device waited: %v", w)
	}

	// In a later step no wait is needed.
	clock.Set(stepStart().Add(95 * time.Second))
	if _, err := guarded.Code(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 1 {
		t.Errorf("a code in a fresh step waited: %v", w)
	}
}

func TestOnceGuardHonoursTOTPPeriod(t *testing.T) {
	clock := newFakeClock(stepStart().Add(10 * time.Second))
	src, err := NewTOTP("otpauth://totp/x?secret="+testSecret+"&period=60", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	guarded := NewOnceGuard(clock.Now, clock.Wait).Wrap(src)
	req := Request{Profile: "work", MFASerial: serial}
	first, _ := guarded.Code(t.Context(), req)
	second, err := guarded.Code(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 1 || w[0] != 50*time.Second {
		t.Errorf("waits %v, want [50s] (to the 60s step boundary)", w)
	}
	if first == second {
		t.Error("the same code was produced twice")
	}
}

func TestOnceGuardHumanUseDelaysSource(t *testing.T) {
	clock := newFakeClock(stepStart().Add(25 * time.Second))
	cs := &countingSource{inner: NewPrompt(PromptOptions{}), now: clock.Now}
	g := NewOnceGuard(clock.Now, clock.Wait)
	g.Used(serial, clock.Now())
	_, err := g.Wrap(cs).Code(t.Context(), Request{Profile: "work", MFASerial: serial})
	if !errors.Is(err, ErrNeedsHuman) {
		t.Fatalf("error = %v", err)
	}
	if len(cs.calls) != 1 || !cs.calls[0].Equal(stepStart().Add(30*time.Second)) {
		t.Errorf("a person was asked at %v, want at the next step's start", cs.calls)
	}
}

func TestOnceGuardConcurrentRequestsTakeTurns(t *testing.T) {
	clock := newFakeClock(stepStart().Add(5 * time.Second))
	src, _ := NewTOTP(testSecret, clock.Now)
	guarded := NewOnceGuard(clock.Now, clock.Wait).Wrap(src)
	codes := make(chan string, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			code, err := guarded.Code(t.Context(), Request{Profile: "work", MFASerial: serial})
			if err != nil {
				t.Error(err)
			}
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	seen := map[string]bool{}
	for c := range codes {
		if seen[c] {
			t.Errorf("code produced twice")
		}
		seen[c] = true
	}
	if w := clock.Waits(); len(w) != 2 {
		t.Errorf("waits %v, want two step waits", w)
	}
}

func TestOnceGuardWaitErrors(t *testing.T) {
	clock := newFakeClock(stepStart().Add(10 * time.Second))
	src, _ := NewTOTP(testSecret, clock.Now)
	g := NewOnceGuard(clock.Now, clock.Wait)
	guarded := g.Wrap(src)
	req := Request{Profile: "work", MFASerial: serial}
	if _, err := guarded.Code(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := guarded.Code(ctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: error %v", err)
	}

	clock.stuck = true
	_, err := guarded.Code(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "clock") {
		t.Errorf("stuck clock: error %v", err)
	}
	if n := len(clock.Waits()); n > maxWaits+1 {
		t.Errorf("waited %d times", n)
	}
}

func TestOnceGuardCheckHuman(t *testing.T) {
	at := stepStart().Add(12 * time.Second)
	g := NewOnceGuard(func() time.Time { return at }, nil)
	if err := g.CheckHuman(serial, "123456", at); err != nil {
		t.Fatalf("first code refused: %v", err)
	}
	g.UsedCode(serial, "123456", at)
	err := g.CheckHuman(serial, "123456", at.Add(time.Second))
	if err == nil {
		t.Fatal("reused code accepted")
	}
	want := "this code was just used; AWS accepts each code once: wait for the next code (about 17s)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := g.CheckHuman(serial, "654321", at.Add(time.Second)); err != nil {
		t.Errorf("a different code refused: %v", err)
	}
	if err := g.CheckHuman("other-device", "123456", at); err != nil {
		t.Errorf("another device's code refused: %v", err)
	}
	if err := g.CheckHuman(serial, "123456", at.Add(40*time.Second)); err == nil {
		t.Error("the code was accepted again within AWS's skew window")
	}
	if err := g.CheckHuman(serial, "123456", at.Add(2*time.Minute)); err != nil {
		t.Errorf("a coincidentally equal code much later refused: %v", err)
	}
	for _, d := range g.devices {
		if strings.Contains(string(d.hash), "123456") {
			t.Error("the code is stored")
		}
	}
}

func TestOnceGuardRefusesCodeTheSourceUsed(t *testing.T) {
	clock := newFakeClock(stepStart().Add(3 * time.Second))
	src, _ := NewTOTP(testSecret, clock.Now)
	g := NewOnceGuard(clock.Now, clock.Wait)
	code, err := g.Wrap(src).Code(t.Context(), Request{Profile: "work", MFASerial: serial})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.CheckHuman(serial, code, clock.Now()); err == nil || strings.Contains(err.Error(), code) {
		t.Errorf("CheckHuman = %v, want a refusal without the code", err)
	}
}

func TestStepEnd(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want time.Time
	}{
		{stepStart(), stepStart().Add(30 * time.Second)},
		{stepStart().Add(29*time.Second + 999*time.Millisecond), stepStart().Add(30 * time.Second)},
		{time.Unix(-1, 0), time.Unix(0, 0)},
	} {
		if got := stepEnd(c.at, Step); !got.Equal(c.want) {
			t.Errorf("stepEnd(%v) = %v, want %v", c.at, got, c.want)
		}
	}
	if s := secondsToNextStep(stepStart().Add(29*time.Second+500*time.Millisecond), Step); s != 1 {
		t.Errorf("secondsToNextStep = %d, want 1", s)
	}
}
