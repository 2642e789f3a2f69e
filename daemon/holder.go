package daemon

import (
	"context"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// A token handed to a shell by `eval "$(mfad env)"` ends with that shell:
// the daemon watches the holder process named in the request and revokes
// the token when it exits. On Linux it waits on a pidfd through the
// runtime's poller (no thread, no timer); where pidfds are unavailable it
// checks on a timer (holderPoll), on Linux through /proc, elsewhere with
// kill(pid, 0).

// holderPoll is how often a holder process is checked where it cannot be
// waited on.
const holderPoll = 10 * time.Second

// pollExit checks alive every holderPoll on clk until it reports false
// (nil) or ctx is done (ctx.Err()).
func pollExit(ctx context.Context, clk clock.Clock, alive func() bool) error {
	for {
		if !alive() {
			return nil
		}
		tick := make(chan struct{})
		t := clk.AfterFunc(holderPoll, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-tick:
		}
	}
}

// watchHolder revokes token id when process pid exits. It stops, keeping
// the token, when the daemon stops: the next daemon watches it again.
func (d *Daemon) watchHolder(id string, pid int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := waitExit(d.bg, d.clock, pid); err != nil {
			return
		}
		if d.stopping.Load() || d.bg.Err() != nil {
			return
		}
		if t, err := d.revokeToken(id); err == nil {
			d.log.Info("token revoked: the process it was handed to exited", "token", id, "kind", t.Kind, "pid", pid)
		}
	}()
}
