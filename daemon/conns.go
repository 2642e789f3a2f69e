package daemon

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/peerproc"
)

// The endpoint is fair to its owner. Every local process reaches it from
// 127.0.0.1, so it tells clients apart by peer: the uid that owns the
// client's socket, which the kernel reports for each accepted connection
// (peerproc.ConnUID). The daemon's own user keeps a reserved share of
// connections that no other uid can take, and each other uid gets a small
// share of its own, fewer still for connections that have not yet sent a
// request with a valid token, and a budget of refusals. A connection beyond
// its peer's share, or from a peer whose refusal budget is spent, is never
// read: it is held, costing a descriptor and no goroutine, for
// firstRequestTimeout to twice that (spread, so that clients turned away
// together do not come back together), then reset. Holding it, rather than resetting it at
// once, keeps a client that reconnects as soon as it is dropped from
// filling the kernel's accept queue ahead of the owner's connections.
// Beyond what can be held, connections are reset at once.
const (
	// maxOwnerConns bounds the owner's connections. An AWS SDK keeps one
	// or two per process, so the SDK clients of one user stay far below
	// it; beyond it, new connections wait in the kernel's accept queue.
	maxOwnerConns = 512
	// maxPeerConns bounds the connections of each other uid.
	maxPeerConns = 16
	// maxPeerUnproven bounds the connections of each other uid that have
	// not yet sent a request with a valid token.
	maxPeerUnproven = 4
	// maxOtherConns bounds the connections of all other uids together.
	maxOtherConns = 64
	// peerRefusalBurst and peerRefusalEvery are each other uid's refusal
	// budget: up to peerRefusalBurst at once, then one per
	// peerRefusalEvery.
	peerRefusalBurst = 20
	peerRefusalEvery = 100 * time.Millisecond
	// firstRequestTimeout bounds how long a new connection may take to send
	// its request's headers (http.Server.ReadHeaderTimeout): SDKs send them
	// at once, so a connection that sends nothing is short-lived.
	firstRequestTimeout = 2 * time.Second
	// maxHeldPerPeer and maxHeld bound the connections held unread, per
	// other uid and in all; the daemon raises its descriptor limit to
	// hold them (Go does so at start), and holds fewer when the limit is
	// lower.
	maxHeldPerPeer = 4096
	maxHeld        = 8192
	// connWarnEvery is the least time between two warnings about held or
	// closed connections.
	connWarnEvery = time.Minute
)

// unknownUID is the uid of the peer of a connection whose owner could not
// be identified on this system: it is treated as the daemon's own user, as it
// was before peers could be told apart.
const unknownUID = -1

// peerConns is the connection state of one uid.
type peerConns struct {
	open, unproven int
	// budget is the refusals left at budgetAt.
	budget     float64
	budgetAt   time.Time
	held       int   // connections held unread now
	turnedAway int64 // connections held or reset since the last warning
}

// peerListener accepts endpoint connections and applies the per-peer
// shares. It is safe for concurrent use.
type peerListener struct {
	net.Listener
	owner int
	clk   clock.Clock
	log   *slog.Logger
	// maxHeld bounds the connections held unread.
	maxHeld int
	// uidOf returns the uid owning the client end of c; alive is false when
	// the client has already gone.
	uidOf func(c net.Conn) (uid int, alive bool)

	ownerSlots chan struct{}
	done       chan struct{}
	closeOnce  sync.Once

	mu      sync.Mutex
	peers   map[int]*peerConns
	others  int
	heldAll heldConns
	// heldTimer fires when the first held connection is due, if any.
	heldTimer clock.Timer
	heldAt    time.Time
	// turnedAway counts the connections held or reset, since the start.
	turnedAway int64
	lastWarn   time.Time
	closed     bool
}

// newPeerListener returns ln applying the per-peer shares, for a daemon run
// by uid owner.
func newPeerListener(ln net.Listener, owner int, clk clock.Clock, log *slog.Logger) *peerListener {
	return &peerListener{Listener: ln, owner: owner, clk: clk, log: log, uidOf: connUID, maxHeld: heldLimit(),
		ownerSlots: make(chan struct{}, maxOwnerConns), done: make(chan struct{}),
		peers: map[int]*peerConns{}}
}

// connUID asks the kernel which uid owns the client end of c.
func connUID(c net.Conn) (int, bool) {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return unknownUID, true
	}
	uid, err := peerproc.ConnUID(remote.AddrPort(), local.AddrPort())
	switch {
	case err == nil:
		return uid, true
	case errors.Is(err, peerproc.ErrNotFound):
		return unknownUID, false
	default:
		return unknownUID, true
	}
}

// Accept returns the next connection within its peer's share. Connections
// beyond it are closed at once, with a reset, and counted.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, alive := l.uidOf(c)
		if !alive {
			c.Close()
			continue
		}
		if uid == l.owner || uid == unknownUID {
			// The owner's share is its own: when it is full, wait for one
			// of the owner's connections to close.
			select {
			case l.ownerSlots <- struct{}{}:
			case <-l.done:
				c.Close()
				return nil, net.ErrClosed
			}
			return &peerConn{Conn: c, l: l, uid: uid, owner: true}, nil
		}
		if l.admitOther(uid, c) {
			return &peerConn{Conn: c, l: l, uid: uid}, nil
		}
	}
}

// reset closes c with a reset, which leaves no TIME_WAIT socket behind on
// the daemon's side.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// Close closes the listener and the connections it holds, and wakes an
// Accept waiting for a slot.
func (l *peerListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		l.closed = true
		if l.heldTimer != nil {
			l.heldTimer.Stop()
		}
		for _, h := range l.heldAll {
			reset(h.c)
		}
		l.heldAll = nil
		l.mu.Unlock()
	})
	return l.Listener.Close()
}

// peer returns uid's state. l.mu is held.
func (l *peerListener) peer(uid int) *peerConns {
	p := l.peers[uid]
	if p == nil {
		p = &peerConns{budget: peerRefusalBurst, budgetAt: l.clk.Now()}
		l.peers[uid] = p
	}
	return p
}

// refill brings p's refusal budget up to now. l.mu is held.
func (l *peerListener) refill(p *peerConns, now time.Time) {
	if dt := now.Sub(p.budgetAt); dt > 0 {
		p.budget = min(peerRefusalBurst, p.budget+float64(dt)/float64(peerRefusalEvery))
		p.budgetAt = now
	}
}

// admitOther takes a share for c, a new connection of another uid; when
// there is none, it holds c unread, or resets it, and counts it.
func (l *peerListener) admitOther(uid int, c net.Conn) bool {
	now := l.clk.Now()
	l.mu.Lock()
	p := l.peer(uid)
	l.refill(p, now)
	if p.budget >= 1 && p.open < maxPeerConns && p.unproven < maxPeerUnproven && l.others < maxOtherConns {
		p.open++
		p.unproven++
		l.others++
		l.mu.Unlock()
		return true
	}
	p.turnedAway++
	l.turnedAway++
	if !l.closed && p.held < maxHeldPerPeer && len(l.heldAll) < l.maxHeld {
		p.held++
		at := now.Add(firstRequestTimeout + rand.N(firstRequestTimeout))
		heap.Push(&l.heldAll, heldConn{c: c, uid: uid, at: at})
		l.armLocked(now)
	} else {
		reset(c)
	}
	warn := l.lastWarn.IsZero() || now.Sub(l.lastWarn) >= connWarnEvery
	var counts map[int]int64
	if warn {
		l.lastWarn = now
		counts = map[int]int64{}
		for u, q := range l.peers {
			if q.turnedAway > 0 {
				counts[u] = q.turnedAway
				q.turnedAway = 0
			}
		}
	}
	l.mu.Unlock()
	for u, n := range counts {
		l.log.Warn("turned away credentials endpoint connections from another user: over its share of connections or its budget of refused requests, they are held unread and reset",
			"peer_uid", u, "count", n, "max_conns", maxPeerConns, "max_unanswered", maxPeerUnproven)
	}
	return false
}

// armLocked sets the timer for the first held connection due. l.mu is held.
func (l *peerListener) armLocked(now time.Time) {
	if len(l.heldAll) == 0 || l.closed {
		return
	}
	first := l.heldAll[0].at
	if l.heldTimer != nil {
		if !first.Before(l.heldAt) {
			return
		}
		l.heldTimer.Stop()
	}
	l.heldAt = first
	l.heldTimer = l.clk.AfterFunc(first.Sub(now), l.releaseDue)
}

// releaseDue resets the held connections whose time is up.
func (l *peerListener) releaseDue() {
	now := l.clk.Now()
	var due []net.Conn
	l.mu.Lock()
	l.heldTimer = nil
	for len(l.heldAll) > 0 && !l.heldAll[0].at.After(now) {
		h := heap.Pop(&l.heldAll).(heldConn)
		l.peer(h.uid).held--
		due = append(due, h.c)
	}
	l.armLocked(now)
	l.mu.Unlock()
	for _, c := range due {
		reset(c)
	}
}

// heldConn is a connection held unread until at.
type heldConn struct {
	c   net.Conn
	uid int
	at  time.Time
}

// heldConns is a min-heap of held connections by release time.
type heldConns []heldConn

func (h heldConns) Len() int           { return len(h) }
func (h heldConns) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h heldConns) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldConns) Push(x any)        { *h = append(*h, x.(heldConn)) }
func (h *heldConns) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = heldConn{}
	*h = old[:len(old)-1]
	return x
}

// peerConn is an accepted endpoint connection, counted in its peer's share
// until closed.
type peerConn struct {
	net.Conn
	l     *peerListener
	uid   int
	owner bool
	// window is the last parallelism window the connection was counted
	// in; its serving goroutine alone uses it.
	window uint64

	mu       sync.Mutex
	proven   bool
	released bool
}

// Close closes the connection and gives its share back.
func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	released, proven := c.released, c.proven
	c.released = true
	c.mu.Unlock()
	if released {
		return err
	}
	if c.owner {
		<-c.l.ownerSlots
		return err
	}
	c.l.mu.Lock()
	p := c.l.peer(c.uid)
	p.open--
	if !proven {
		p.unproven--
	}
	c.l.others--
	c.l.mu.Unlock()
	return err
}

// CloseWrite shuts down the writing side, as *net.TCPConn does.
func (c *peerConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// served marks the connection as having sent a request with a valid token:
// it no longer counts among its peer's unanswered connections.
func (c *peerConn) served() {
	if c.owner {
		return
	}
	c.mu.Lock()
	first := !c.proven && !c.released
	c.proven = true
	c.mu.Unlock()
	if first {
		c.l.mu.Lock()
		c.l.peer(c.uid).unproven--
		c.l.mu.Unlock()
	}
}

// refused charges a refused request to the connection's peer.
func (c *peerConn) refused() {
	if c.owner {
		return
	}
	now := c.l.clk.Now()
	c.l.mu.Lock()
	p := c.l.peer(c.uid)
	c.l.refill(p, now)
	p.budget = max(0, p.budget-1)
	c.l.mu.Unlock()
}

// connCtxKey is the request context key of the request's *peerConn.
type connCtxKey struct{}

// withPeerConn is http.Server.ConnContext: it puts the connection in every
// request's context, for served and refused.
func withPeerConn(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, connCtxKey{}, pc)
	}
	return ctx
}

// peerConnOf returns the connection a request came on, or nil.
func peerConnOf(ctx context.Context) *peerConn {
	pc, _ := ctx.Value(connCtxKey{}).(*peerConn)
	return pc
}
