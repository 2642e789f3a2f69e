// Package clock gives mfad's time-dependent code one injectable source of
// wall-clock time and timers, so that tests can drive hours in microseconds.
//
// Expiry decisions compare wall-clock times with the monotonic reading
// stripped: Go's monotonic clock does not advance while a laptop sleeps, so
// a monotonic comparison would serve credentials that expired during suspend.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and schedules callbacks.
type Clock interface {
	// Now returns the current wall-clock time without a monotonic reading.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
	// At calls f in its own goroutine once the clock reaches t, or at once
	// when t has already passed. A deadline computed from an earlier Now
	// stays a deadline: the time that passed in between is not added.
	At(t time.Time, f func()) Timer
}

// Timer is a scheduled callback that can be stopped.
type Timer interface {
	// Stop prevents the callback from running; it reports whether it did.
	Stop() bool
}

// System is the real clock.
type System struct{}

// Now returns time.Now with the monotonic reading stripped.
func (System) Now() time.Time { return time.Now().Round(0) }

// AfterFunc wraps time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// At wraps time.AfterFunc with the time left until t by the wall clock.
func (System) At(t time.Time, f func()) Timer { return time.AfterFunc(time.Until(t.Round(0)), f) }

// Fake is a manually advanced clock for tests. Timers fire, in order, when
// Advance or Set moves the clock past their deadline.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	seq    int
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start.Round(0)} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc schedules fn at Now()+d. Like time.AfterFunc, a callback
// that is already due runs at once, in its own goroutine.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	if d <= 0 {
		t := &fakeTimer{clock: f, fn: fn}
		go fn()
		return t
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{clock: f, at: f.now.Add(d), fn: fn, seq: f.seq}
	f.timers = append(f.timers, t)
	return t
}

// At schedules fn at t. A callback whose time has already come runs at
// once, in its own goroutine, even when the clock moved past t after the
// caller computed it.
func (f *Fake) At(t time.Time, fn func()) Timer {
	t = t.Round(0)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !t.After(f.now) {
		go fn()
		return &fakeTimer{clock: f, fn: fn}
	}
	f.seq++
	timer := &fakeTimer{clock: f, at: t, fn: fn, seq: f.seq}
	f.timers = append(f.timers, timer)
	return timer
}

// Advance moves the clock forward by d, firing due timers synchronously in
// deadline order (each in the calling goroutine), and returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	return f.Set(f.Now().Add(d))
}

// Set moves the clock forward to t and fires due timers. The clock never
// goes back: when goroutines advance it concurrently, the latest time wins.
func (f *Fake) Set(t time.Time) time.Time {
	t = t.Round(0)
	for {
		f.mu.Lock()
		sort.SliceStable(f.timers, func(i, j int) bool {
			if f.timers[i].at.Equal(f.timers[j].at) {
				return f.timers[i].seq < f.timers[j].seq
			}
			return f.timers[i].at.Before(f.timers[j].at)
		})
		if len(f.timers) == 0 || f.timers[0].at.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			now := f.now
			f.mu.Unlock()
			return now
		}
		next := f.timers[0]
		f.timers = f.timers[1:]
		if next.at.After(f.now) {
			f.now = next.at
		}
		f.mu.Unlock()
		next.fn()
	}
}

// Pending reports how many timers are scheduled.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

type fakeTimer struct {
	clock *Fake
	at    time.Time
	fn    func()
	seq   int
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	for i, x := range t.clock.timers {
		if x == t {
			t.clock.timers = append(t.clock.timers[:i], t.clock.timers[i+1:]...)
			return true
		}
	}
	return false
}
