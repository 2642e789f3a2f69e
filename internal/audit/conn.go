package audit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Conn is the audit record of one endpoint connection: a count of requests
// per (profile, token, status, reason), kept by the connection's own
// goroutine. A request that repeats the previous one on the connection —
// what a client fetching again does — costs one atomic add and one atomic
// store; nothing is encoded or written per request. The log's writer reads
// the counts every few seconds and when the connection closes.
type Conn struct {
	log            *Log
	client, server netip.AddrPort
	// shared marks the connection-less record of requests that carry no
	// connection (handlers called directly): several goroutines use it, so
	// it always locks.
	shared bool
	// last is the counter of the previous request; the serving goroutine
	// alone uses it (net/http serves a connection's requests one by one).
	last *counter

	// mu guards counters, listed and closed.
	mu       sync.Mutex
	counters []*counter
	listed   bool // registered with the log as active
	closed   bool

	// seq orders the connections by their acceptance.
	seq uint64

	// Used by the writer goroutine only:
	resolved bool
	proc     process
}

// key is what a request's counter counts.
type key struct {
	via, profile, tokenID, reason string
	status                        int
}

// counter counts the requests of one key on one connection.
type counter struct {
	key key
	// unauth: no valid token (the process lookup is rate-limited).
	unauth bool
	first  int64 // unix nanoseconds of the first request
	n      atomic.Int64
	lastAt atomic.Int64 // unix nanoseconds of the latest request

	// Used by the writer goroutine only:
	seen int64 // requests already passed on to agg
	agg  *agg
}

// maxCounters bounds the keys one connection counts apart; beyond it, the
// requests of new keys are counted under one key without profile or token.
const maxCounters = 64

// ctxKey is the context key of a request's *Conn.
type ctxKey struct{}

// ConnFrom returns the audit record of the connection a request came on,
// or nil when the server carries none (no audit log).
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}

// Attach makes srv give every connection an audit record (ConnFrom finds it
// in its requests' contexts) and hand it to the log when it closes. Hooks
// srv already has keep running, first. It does nothing when the log
// records nothing.
func (a *Log) Attach(srv *http.Server) {
	if !a.Enabled() {
		return
	}
	prevCtx, prevState := srv.ConnContext, srv.ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		return a.ConnContext(ctx, c)
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if prevState != nil {
			prevState(c, s)
		}
		if s == http.StateClosed || s == http.StateHijacked {
			a.connClosed(c)
		}
	}
}

// ConnContext returns ctx carrying a new audit record for connection c
// (as http.Server.ConnContext).
func (a *Log) ConnContext(ctx context.Context, c net.Conn) context.Context {
	rec := &Conn{log: a, client: addrPort(c.RemoteAddr()), server: addrPort(c.LocalAddr())}
	a.mu.Lock()
	a.seq++
	rec.seq = a.seq
	if a.byNet == nil {
		a.byNet = map[net.Conn]*Conn{}
	}
	a.byNet[c] = rec
	a.mu.Unlock()
	return context.WithValue(ctx, ctxKey{}, rec)
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// connClosed hands a closed connection's counts to the writer.
func (a *Log) connClosed(nc net.Conn) {
	a.mu.Lock()
	c := a.byNet[nc]
	delete(a.byNet, nc)
	if len(a.byNet) == 0 {
		a.byNet = nil // let a burst's map go
	}
	a.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	listed := c.listed
	if listed {
		a.mu.Lock()
		delete(a.active, c)
		a.closing = append(a.closing, c)
		a.mu.Unlock()
	}
	c.mu.Unlock()
	if listed {
		a.wakeUp()
	}
}

// Fetch counts a request answered with status: for profile, with the valid
// token tokenID ("" when none), at now (unix nanoseconds). reason says why
// it was refused. A nil Conn counts nothing.
func (c *Conn) Fetch(now int64, profile, tokenID string, status int, reason string) {
	if c == nil {
		return
	}
	if k := c.last; k != nil && !c.shared && k.key.status == status && k.key.profile == profile &&
		k.key.tokenID == tokenID && k.key.reason == reason {
		k.n.Add(1)
		k.lastAt.Store(now)
		if c.log.sleeping.Load() {
			c.log.nudge()
		}
		return
	}
	c.count(now, key{via: ViaEndpoint, profile: profile, tokenID: tokenID, status: status, reason: reason}, false)
}

// Refuse counts a request refused for want of a valid token: for profile,
// claiming tokenID when well-formed, at now (unix nanoseconds). The
// processes behind such requests are looked up at most RefusalLookups
// times per RefusalWindow.
func (c *Conn) Refuse(now int64, profile, tokenID string, status int, reason string) {
	if c == nil {
		return
	}
	c.count(now, key{via: ViaEndpoint, profile: profile, tokenID: tokenID, status: status, reason: reason}, true)
}

// count is the slow path: a key new to this connection, or a shared record.
func (c *Conn) count(now int64, k key, unauth bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var x *counter
	for _, y := range c.counters {
		if y.key == k {
			x = y
			break
		}
	}
	if x == nil && len(c.counters) >= maxCounters {
		k = key{via: k.via, status: k.status, reason: "more kinds of request on one connection than the audit log tells apart"}
		for _, y := range c.counters {
			if y.key == k {
				x = y
				break
			}
		}
	}
	if x != nil {
		x.n.Add(1)
		x.lastAt.Store(now)
		c.log.nudge()
	} else {
		x = &counter{key: k, unauth: unauth, first: now}
		x.n.Store(1)
		x.lastAt.Store(now)
		c.counters = append(c.counters, x)
		if !c.listed && !c.closed {
			c.listed = true
			c.log.mu.Lock()
			if c.log.active == nil {
				c.log.active = map[*Conn]struct{}{}
			}
			c.log.active[c] = struct{}{}
			c.log.mu.Unlock()
		}
		// A new key: its first request is written at once, while the
		// client normally still holds its connection.
		c.log.wakeUp()
	}
	if !c.shared {
		c.last = x
	}
}

// snapshot returns the connection's counters, and whether it is closed.
func (c *Conn) snapshot() ([]*counter, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*counter(nil), c.counters...), c.closed
}
