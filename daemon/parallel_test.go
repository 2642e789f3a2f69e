package daemon

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// procsRecorder records the switches a parallelism asks for.
type procsRecorder struct {
	mu    sync.Mutex
	calls []bool
}

func (r *procsRecorder) set(serial bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, serial)
}

func (r *procsRecorder) got() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func newTestParallelism(t *testing.T) (*parallelism, *clock.Fake, *procsRecorder) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	rec := &procsRecorder{}
	p := newParallelism(clk, slog.New(slog.DiscardHandler), rec.set)
	p.start()
	t.Cleanup(p.stop)
	return p, clk, rec
}

// serve has connection conn ask n times, step apart, starting now.
func serve(p *parallelism, clk *clock.Fake, conn *uint64, n int, step time.Duration) {
	for range n {
		p.asked(conn, clk.Now().UnixNano())
		clk.Advance(step)
	}
}

func TestParallelismTurnsSerialOnceQuiet(t *testing.T) {
	_, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter - time.Millisecond)
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("switched %v before %v without clients", got, serialAfter)
	}
	clk.Advance(time.Millisecond)
	if got := rec.got(); !slices.Equal(got, []bool{true}) {
		t.Fatalf("switches after %v without clients = %v, want one to serial", serialAfter, got)
	}
}

func TestParallelismOneConnectionStaysSerial(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	// One connection asking 10,000 times a second for a minute, then
	// another one (a new client process) doing the same.
	var c1, c2 uint64
	serve(p, clk, &c1, 600_000, 100*time.Microsecond)
	serve(p, clk, &c2, 600_000, 100*time.Microsecond)
	if got := rec.got(); !slices.Equal(got, []bool{true}) {
		t.Fatalf("switches = %v, want only the first one to serial", got)
	}
}

func TestParallelismTwoConnectionsStaySerial(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	var c1, c2 uint64
	for range 10_000 {
		p.asked(&c1, clk.Now().UnixNano())
		p.asked(&c2, clk.Now().UnixNano())
		clk.Advance(time.Millisecond)
	}
	if got := rec.got(); !slices.Equal(got, []bool{true}) {
		t.Fatalf("switches = %v with two clients, want only the first one to serial", got)
	}
}

func TestParallelismSeveralConnectionsUseEveryP(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	conns := make([]uint64, parallelConns)
	for i := range conns {
		p.asked(&conns[i], clk.Now().UnixNano())
	}
	if got := rec.got(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("switches after %d clients in one window = %v, want serial then every P", parallelConns, got)
	}
	// They go on asking for a minute: no switch.
	for range 600 {
		for i := range conns {
			p.asked(&conns[i], clk.Now().UnixNano())
		}
		clk.Advance(parallelWindow)
	}
	if got := rec.got(); len(got) != 2 {
		t.Fatalf("switches while %d clients ask = %v, want none more", parallelConns, got[2:])
	}
	// They stop: serial again serialAfter after the last busy window.
	clk.Advance(serialAfter - parallelWindow - time.Millisecond)
	if got := rec.got(); len(got) != 2 {
		t.Fatalf("switched back %v too early", got[2:])
	}
	clk.Advance(time.Millisecond + parallelWindow)
	if got := rec.got(); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("switches after the clients stopped = %v, want serial again", got)
	}
}

func TestParallelismConnectionsSpreadOverWindowsStaySerial(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	// A script running `aws` commands one after another: a new connection
	// every 300 ms, each asking once.
	for range 200 {
		var c uint64
		p.asked(&c, clk.Now().UnixNano())
		clk.Advance(300 * time.Millisecond)
	}
	if got := rec.got(); !slices.Equal(got, []bool{true}) {
		t.Fatalf("switches = %v, want only the first one to serial", got)
	}
}

func TestParallelismConcurrentConnections(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	now := clk.Now().UnixNano()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			var c uint64
			for range 1000 {
				p.asked(&c, now)
			}
		})
	}
	wg.Wait()
	if got := rec.got(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("switches with 64 concurrent connections in one window = %v, want one to every P", got)
	}
	if n := p.win.Load() & 0xffff; n != 64 {
		t.Fatalf("the window counted %d connections, want 64", n)
	}
}

func TestParallelismHoldKeepsEveryP(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	release := p.hold()
	if got := rec.got(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("switches after hold = %v, want every P", got)
	}
	clk.Advance(time.Hour)
	if got := rec.got(); len(got) != 2 {
		t.Fatalf("switched %v while held", got[2:])
	}
	release()
	release() // a second call does nothing
	clk.Advance(serialAfter)
	if got := rec.got(); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("switches after release = %v, want serial again", got)
	}
}

func TestParallelismStopRestoresTheDefault(t *testing.T) {
	p, clk, rec := newTestParallelism(t)
	clk.Advance(serialAfter)
	p.stop()
	conns := make([]uint64, 10)
	for i := range conns {
		p.asked(&conns[i], clk.Now().UnixNano())
	}
	clk.Advance(time.Hour)
	if got := rec.got(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("switches after stop = %v, want the default back and nothing more", got)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left after stop", clk.Pending())
	}
}

func TestParallelismNil(t *testing.T) {
	var p *parallelism
	if newParallelism(clock.System{}, nil, nil) != nil {
		t.Fatal("a parallelism without a setter is not nil")
	}
	var c uint64
	p.start()
	p.asked(&c, time.Now().UnixNano())
	p.hold()()
	p.stop()
}
