package daemon

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// The endpoint's clients almost always ask one at a time: an SDK process
// fetches credentials, then uses them for an hour. A Go program serving one
// request at a time on several Ps pays for the spare ones on every request:
// net/http starts a goroutine per request to watch its connection, which
// wakes a second thread that looks for work, finds none and sleeps again —
// more CPU time than the request itself (about half of it, measured at one
// connection; see docs/benchmarks.md). So, when RunOptions.Parallelism is
// set (`mfad daemon` sets it), the daemon runs on one P while its clients
// ask one at a time, and goes back to the runtime's default as soon as
// several connections ask within one window; it returns to one P once none
// has done so for serialAfter. Work that wants the spare Ps (the keystore's
// key derivation) holds them while it runs.
const (
	// parallelWindow and parallelConns: parallelConns distinct
	// connections asking within one parallelWindow call for every P.
	parallelWindow = 100 * time.Millisecond
	parallelConns  = 3
	// serialAfter is how long the daemon stays on every P after the last
	// window that called for them.
	serialAfter = 5 * time.Second
)

// parallelism switches the daemon between one P and the runtime's default.
// A nil *parallelism does nothing. Its methods are safe for concurrent use.
type parallelism struct {
	clk clock.Clock
	log *slog.Logger
	// set runs the process on one P (serial) or on the runtime's default.
	set func(serial bool)

	// win is the current window's index << 16 | the distinct connections
	// that asked in it (saturating).
	win atomic.Uint64

	mu      sync.Mutex
	serial  bool
	holds   int
	busyAt  time.Time // the last time every P was called for
	timer   clock.Timer
	stopped bool
}

// newParallelism returns the switch, or nil when set is nil. The daemon
// starts on the runtime's default and turns serial after serialAfter
// without concurrent clients (start arms it).
func newParallelism(clk clock.Clock, log *slog.Logger, set func(serial bool)) *parallelism {
	if set == nil {
		return nil
	}
	return &parallelism{clk: clk, log: log, set: set}
}

// start arms the first switch to one P.
func (p *parallelism) start() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busyAt = p.clk.Now()
	p.armLocked()
}

// windowOf is the index of the window holding now (unix nanoseconds).
func windowOf(now int64) uint64 { return uint64(now / int64(parallelWindow)) }

// asked counts a request served at now (unix nanoseconds) on a connection
// whose last counted window is *last (used by that connection's serving
// goroutine only). A connection is counted once per window: at one
// connection this costs a division and a comparison per request.
func (p *parallelism) asked(last *uint64, now int64) {
	if p == nil {
		return
	}
	w := windowOf(now)
	if *last == w {
		return
	}
	*last = w
	for {
		old := p.win.Load()
		n := uint64(0)
		if old>>16 == w {
			n = old & 0xffff
		}
		if n >= 0xffff {
			return
		}
		if p.win.CompareAndSwap(old, w<<16|(n+1)) {
			if n+1 == parallelConns {
				p.busy()
			}
			return
		}
	}
}

// busy runs the daemon on every P, and keeps it there for serialAfter.
func (p *parallelism) busy() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.busyAt = p.clk.Now()
	if p.everyPLocked() {
		p.log.Debug("serving on every CPU: several clients ask at once")
	}
	p.armLocked()
}

// everyPLocked goes back to the runtime's default if the daemon is serial,
// and reports whether it did.
func (p *parallelism) everyPLocked() bool {
	if !p.serial {
		return false
	}
	p.serial = false
	p.set(false)
	return true
}

// hold runs the daemon on every P until release is called, for work that
// uses them (the keystore's key derivation).
func (p *parallelism) hold() (release func()) {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	p.holds++
	if !p.stopped {
		p.everyPLocked()
	}
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.holds--
			p.busyAt = p.clk.Now()
			p.armLocked()
		})
	}
}

// armLocked schedules the check for one P unless one is pending or the
// daemon is serial already.
func (p *parallelism) armLocked() {
	if p.timer != nil || p.serial || p.stopped {
		return
	}
	p.timer = p.clk.At(p.busyAt.Add(serialAfter), p.check)
}

// check turns the daemon serial if nothing has called for every P for
// serialAfter, and re-arms otherwise.
func (p *parallelism) check() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if p.stopped || p.serial {
		return
	}
	if p.holds > 0 {
		return // release re-arms
	}
	if p.clk.Now().Before(p.busyAt.Add(serialAfter)) {
		p.armLocked()
		return
	}
	p.serial = true
	p.set(true)
	p.log.Debug("serving on one CPU: clients ask one at a time")
}

// stop cancels a pending switch and leaves the runtime's default in place.
func (p *parallelism) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.everyPLocked()
}
