package audit

import (
	"fmt"
	"sync"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// Refused requests without a valid token are recorded one by one up to
// RefusalLines per RefusalWindow; the rest are counted in one Refused line,
// so that a flood cannot push real history out of the bounded log.
const (
	RefusalWindow = time.Minute
	RefusalLines  = 60
)

// refusals is the refusal limiter.
type refusals struct {
	clock  clock.Clock
	record func(Entry)

	mu          sync.Mutex
	windowEnd   time.Time
	windowLines int
	suppressed  int64
	flushTimer  clock.Timer
}

// admit reports whether a refused request without a valid token is
// recorded on its own line; otherwise it is counted for the window's
// Refused line.
func (r *refusals) admit() bool {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !now.Before(r.windowEnd) {
		if r.suppressed > 0 {
			// The timer has not run yet: write the last window's count now.
			r.record(r.summaryLocked())
		}
		r.windowEnd = now.Add(RefusalWindow)
		r.windowLines = 0
	}
	if r.windowLines < RefusalLines {
		r.windowLines++
		return true
	}
	r.suppressed++
	if r.flushTimer == nil {
		r.flushTimer = r.clock.AfterFunc(r.windowEnd.Sub(now), r.flush)
	}
	return false
}

// flush writes the Refused line of a window that has ended.
func (r *refusals) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushTimer = nil
	if r.suppressed > 0 {
		r.record(r.summaryLocked())
	}
}

// stop writes the count of the current window and stops its timer.
func (r *refusals) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flushTimer != nil {
		r.flushTimer.Stop()
		r.flushTimer = nil
	}
	if r.suppressed > 0 {
		r.record(r.summaryLocked())
	}
}

func (r *refusals) summaryLocked() Entry {
	n := r.suppressed
	r.suppressed = 0
	return Entry{Event: Refused, Via: ViaEndpoint, Count: n,
		Reason: fmt.Sprintf("more than %d requests without a valid token in %s: counted, not recorded one by one", RefusalLines, RefusalWindow)}
}
