package clock

import (
	"testing"
	"time"
)

func TestFakeAtFiresADeadlineTheClockPassedBeforeArming(t *testing.T) {
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	f := NewFake(start)
	deadline := f.Now().Add(40 * time.Minute)
	// The clock moves past the deadline before the timer is armed.
	f.Advance(40 * time.Minute)
	fired := make(chan struct{})
	f.At(deadline, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("a timer armed at a passed deadline did not fire")
	}
	if n := f.Pending(); n != 0 {
		t.Fatalf("%d timers pending", n)
	}
}

func TestFakeAtFiresAtTheDeadlineNotLater(t *testing.T) {
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	f := NewFake(start)
	var firedAt time.Time
	f.At(start.Add(time.Hour), func() { firedAt = f.Now() })
	f.Advance(59 * time.Minute)
	if !firedAt.IsZero() {
		t.Fatalf("fired early, at %v", firedAt)
	}
	f.Advance(2 * time.Minute)
	if want := start.Add(time.Hour); !firedAt.Equal(want) {
		t.Fatalf("fired at %v, want %v", firedAt, want)
	}
}
