package daemon

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxIdleConns is how many keep-alive connections each peer (uid) may
	// keep idle past idleGrace; beyond it, the ones found idle are closed.
	// An AWS SDK keeps one or two connections per process and asks for
	// credentials once in a long while, so a connection idle for seconds is
	// rarely used again soon, while each holds a goroutine and its buffers.
	maxIdleConns = 16
	// idleGrace is how long a connection may stay idle before it counts
	// against maxIdleConns; the check runs this often while more than
	// maxIdleConns connections are open.
	idleGrace = 5 * time.Second
	// burstConns connections opened and closed make a burst, after which
	// freed memory is returned to the system once no new connection has
	// come for burstQuiet: a release costs a few collections and the page
	// faults of growing again, so it waits for the burst to be over rather
	// than falling between the waves of a busy client.
	burstConns = 16
	burstQuiet = 10 * time.Second
)

// idleConns follows the endpoint's connections through the server's
// ConnState hook: it closes idle keep-alive connections beyond
// maxIdleConns per peer, and once a burst of connections is over it has
// the memory they used returned to the system. Requests cost it one map
// read and one atomic store.
type idleConns struct {
	release func()
	grace   time.Duration // idleGrace
	quiet   time.Duration // burstQuiet

	conns  sync.Map // net.Conn → *idleState
	open   atomic.Int64
	opened atomic.Int64 // since the last release

	mu    sync.Mutex
	timer *time.Timer
	// burst is the release waiting for the end of a burst; burstPending
	// says it is armed.
	burst        *time.Timer
	burstPending atomic.Bool
}

// idleState is one connection's.
type idleState struct {
	uid   int
	state atomic.Int32
}

// Idle states of a connection.
const (
	idleNot  = 0 // serving, or not yet asked anything
	idleNew  = 1 // idle since the last check
	idleLong = 2 // idle across a whole check interval
)

// watchIdle sets srv's ConnState hook (keeping any it has) to follow its
// connections; release is called after bursts.
func watchIdle(srv *http.Server, release func()) *idleConns {
	w := &idleConns{release: release, grace: idleGrace, quiet: burstQuiet}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if prev != nil {
			prev(c, s)
		}
		w.connState(c, s)
	}
	return w
}

func (w *idleConns) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		uid := unknownUID
		if pc, ok := c.(*peerConn); ok {
			uid = pc.uid
		}
		w.conns.Store(c, &idleState{uid: uid})
		w.opened.Add(1)
		if w.open.Add(1) > maxIdleConns {
			w.arm()
		}
		if w.burstPending.Load() {
			w.postpone()
		}
	case http.StateIdle, http.StateActive:
		if v, ok := w.conns.Load(c); ok {
			st := int32(idleNot)
			if s == http.StateIdle {
				st = idleNew
			}
			v.(*idleState).state.Store(st)
		}
	case http.StateClosed, http.StateHijacked:
		if _, ok := w.conns.LoadAndDelete(c); ok {
			w.open.Add(-1)
		}
		if w.opened.Load() >= burstConns {
			w.opened.Store(0)
			w.postpone()
		}
	}
}

// postpone (re)arms the release for burstQuiet from now.
func (w *idleConns) postpone() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.burstPending.Store(true)
	if w.burst != nil {
		w.burst.Reset(w.quiet)
		return
	}
	w.burst = time.AfterFunc(w.quiet, func() {
		w.burstPending.Store(false)
		w.release()
	})
}

// arm schedules a check unless one is pending.
func (w *idleConns) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(w.grace, w.check)
	}
}

// check closes the connections idle for a whole interval beyond the first
// maxIdleConns of their peer, and runs again while more than maxIdleConns
// connections are open.
func (w *idleConns) check() {
	kept := map[int]int{}
	var closing []net.Conn
	w.conns.Range(func(k, v any) bool {
		st := v.(*idleState)
		switch st.state.Load() {
		case idleLong:
			if kept[st.uid] < maxIdleConns {
				kept[st.uid]++
			} else {
				closing = append(closing, k.(net.Conn))
			}
		case idleNew:
			st.state.CompareAndSwap(idleNew, idleLong)
		}
		return true
	})
	// Read before closing: the closes are counted as they are served.
	remaining := w.open.Load() - int64(len(closing))
	for _, c := range closing {
		// The client may be sending a request at this very moment: an
		// HTTP client retries a request on a kept-alive connection that
		// the server closed, as it does after the idle timeout.
		c.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if remaining > maxIdleConns {
		w.timer = time.AfterFunc(w.grace, w.check)
	}
}

// stop cancels a pending check and release.
func (w *idleConns) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.burst != nil {
		w.burst.Stop()
	}
}
