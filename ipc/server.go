package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/peerproc"
)

// Defaults for Server.
const (
	// DefaultMaxConns is the connection limit used when Server.MaxConns is 0.
	DefaultMaxConns = 64
	// DefaultFrameTimeout is the frame deadline used when
	// Server.FrameTimeout is 0.
	DefaultFrameTimeout = 10 * time.Second
	// DefaultReservedIdleTimeout is how long a connection in a reserved
	// slot may stay idle when Server.ReservedIdleTimeout is 0.
	DefaultReservedIdleTimeout = 10 * time.Second
)

// rejectTimeout bounds writing a connection-level error to a refused peer.
const rejectTimeout = time.Second

// Conn is the connection a request arrived on, as seen by a Handler.
type Conn interface {
	// Peer returns the credentials of the connected process.
	Peer() Peer
	// Context returns a context that is cancelled when the client
	// disconnects (including shutting down its sending side) or the server
	// stops. Anything tied to the client's lifetime, and any handler that
	// waits, should watch it. Once it is done, no further request of the
	// connection is handled.
	Context() context.Context
}

// Handler answers requests. ServeIPC is called for one request of a
// connection at a time, with the connection's Conn; it may block, but must
// return once c.Context() is done. The server fills in the response's V and
// ID; a nil response is sent as an empty success. A panic is recovered,
// logged and answered with CodeInternal, and the connection is then closed.
type Handler interface {
	ServeIPC(c Conn, req *Request) *Response
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(c Conn, req *Request) *Response

// ServeIPC calls f(c, req).
func (f HandlerFunc) ServeIPC(c Conn, req *Request) *Response { return f(c, req) }

// Server serves the control protocol to processes of the daemon's own user.
// Its fields are configuration; set them before calling Serve and do not
// change them afterwards.
type Server struct {
	// Handler answers requests. Required.
	Handler Handler
	// Logger receives connection-level events; nil discards them. Request
	// and response bodies are never logged.
	Logger *slog.Logger
	// MaxConns bounds the connections served at once (DefaultMaxConns when
	// 0). Connections beyond it take a reserved slot, if one is free, or get
	// a CodeBusy error and are closed.
	MaxConns int
	// Reserved is how many more connections are served, beyond MaxConns,
	// for the operations Priority admits: when every other slot is taken
	// (by long-lived clients, say), these still get through. A connection
	// in a reserved slot that asks for another operation gets a CodeBusy
	// error and is closed.
	Reserved int
	// Priority reports whether operation op may be served in a reserved
	// slot; nil admits none.
	Priority func(op string) bool
	// ReservedIdleTimeout closes a connection in a reserved slot that has
	// had no request in progress for that long
	// (DefaultReservedIdleTimeout when 0).
	ReservedIdleTimeout time.Duration
	// IdleTimeout, when positive, closes a connection that has had no
	// request in progress for that long. When 0, an idle connection stays
	// open until the client closes it, so a client may hold one for as long
	// as it needs the daemon (Conn.Context is tied to it).
	IdleTimeout time.Duration
	// FrameTimeout bounds how long a client may take to send the rest of a
	// frame once it has started one, and how long writing a response may
	// take (DefaultFrameTimeout when 0). A client that stalls mid-frame gets
	// a CodeTimeout error and is disconnected.
	FrameTimeout time.Duration

	// ownerUID, when set, replaces os.Getuid as the only uid allowed to
	// connect. Tests use it to exercise the refusal path without a second
	// user.
	ownerUID func() int
}

// Serve accepts connections on ln and serves them until ctx is done, then
// closes ln, cancels every connection's context, waits for the handlers to
// return and returns nil. ln is closed when Serve returns. An error is
// returned if the listener fails for another reason.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	if s.Handler == nil {
		return errors.New("ipc: Server.Handler is nil")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	owner := os.Getuid()
	if s.ownerUID != nil {
		owner = s.ownerUID()
	}
	st := &serveState{
		srv:          s,
		log:          log,
		owner:        owner,
		slots:        make(chan struct{}, maxConns),
		reserved:     make(chan struct{}, max(0, s.Reserved)),
		frameTimeout: s.FrameTimeout,
		procs:        peerproc.NewFinder(),
	}
	if st.frameTimeout <= 0 {
		st.frameTimeout = DefaultFrameTimeout
	}

	// On return, whatever the reason: stop every connection, then wait for
	// them (deferred calls run in reverse order).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAccept(err) {
				// Out of file descriptors or similar: wait and retry,
				// like net/http.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("accepting an mfad control connection failed; retrying", "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
				continue
			}
			return fmt.Errorf("accepting mfad control connections: %w", err)
		}
		backoff = 0
		wg.Go(func() { st.serveConn(ctx, nc) })
	}
}

// isTemporaryAccept reports whether an Accept error is worth retrying.
func isTemporaryAccept(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary() && !errors.Is(err, net.ErrClosed)
}

// serveState is the state of one Serve call.
type serveState struct {
	srv          *Server
	log          *slog.Logger
	owner        int
	slots        chan struct{}
	reserved     chan struct{}
	frameTimeout time.Duration
	// procs describes peers when their connections are accepted.
	procs *peerproc.Finder
}

// conn implements Conn.
type conn struct {
	nc     net.Conn
	peer   Peer
	ctx    context.Context
	cancel context.CancelCauseFunc

	// pending counts requests read but not yet answered.
	pending atomic.Int32
	// lastDone is when the last response was written (UnixNano), or when
	// the connection was accepted.
	lastDone atomic.Int64
	// reserved is set for a connection in a reserved slot.
	reserved bool
	// idle is how long the connection may stay idle; 0 = no limit.
	idle time.Duration
}

func (c *conn) Peer() Peer               { return c.peer }
func (c *conn) Context() context.Context { return c.ctx }

// item is what the read loop hands to the request loop.
type item struct {
	req *Request
	err error
}

// errClientHungUp is the cancellation cause when the client disconnects.
type errClientHungUp struct{ err error }

func (e errClientHungUp) Error() string {
	if e.err == nil || errors.Is(e.err, io.EOF) {
		return "the mfad client disconnected"
	}
	return "the mfad client connection failed: " + e.err.Error()
}

func (e errClientHungUp) Unwrap() error { return e.err }

func (st *serveState) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	peer, err := connPeer(nc)
	if err != nil {
		st.log.Warn("refusing an mfad control connection whose peer cannot be identified", "err", err)
		st.reject(nc, CodeForbidden, "the mfad daemon cannot verify which user is connecting, so it refuses the connection: "+err.Error())
		return
	}
	if peer.UID != st.owner {
		st.log.Warn("refusing an mfad control connection from another user", "peer_uid", peer.UID, "peer_pid", peer.PID, "daemon_uid", st.owner)
		st.reject(nc, CodeForbidden, fmt.Sprintf("this mfad daemon serves uid %d only: start your own with `mfad daemon`", st.owner))
		return
	}
	reserved := false
	select {
	case st.slots <- struct{}{}:
		defer func() { <-st.slots }()
	default:
		select {
		case st.reserved <- struct{}{}:
			defer func() { <-st.reserved }()
			reserved = true
		default:
			st.log.Warn("refusing an mfad control connection: too many connections", "peer_pid", peer.PID, "max_conns", cap(st.slots))
			st.reject(nc, CodeBusy, fmt.Sprintf("the mfad daemon is already serving %d connections: close other mfad commands (for example finished `mfad exec` sessions) and try again", cap(st.slots)))
			return
		}
	}

	// Who the client is, read now: a short-lived client (a
	// credential_process) may be gone by the time its request is audited.
	peer.describe(st.procs)
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	c := &conn{nc: nc, peer: peer, ctx: cctx, cancel: cancel, reserved: reserved, idle: st.srv.IdleTimeout}
	if reserved {
		c.idle = st.srv.ReservedIdleTimeout
		if c.idle <= 0 {
			c.idle = DefaultReservedIdleTimeout
		}
	}
	c.lastDone.Store(time.Now().UnixNano())
	st.log.Debug("mfad control connection opened", "peer_pid", peer.PID)

	items := make(chan item, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		st.readLoop(c, items)
	}()
	st.requestLoop(c, items)
	// Unblock the read loop and wait for it, so that nothing touches the
	// connection once serveConn has returned.
	cancel(context.Canceled)
	nc.Close()
	<-readerDone
	st.log.Debug("mfad control connection closed", "peer_pid", peer.PID, "cause", context.Cause(cctx))
}

// reject writes a connection-level error to a peer that will not be served.
func (st *serveState) reject(nc net.Conn, code Code, msg string) {
	nc.SetWriteDeadline(time.Now().Add(rejectTimeout))
	resp := &Response{V: ProtocolVersion, ID: 0, Error: &Error{Code: code, Message: msg}}
	if err := EncodeResponse(nc, resp); err != nil {
		st.log.Debug("could not tell a refused mfad client why", "code", code, "err", err)
	}
}

// readLoop reads requests from c and hands them to the request loop. It
// cancels c's context as soon as the client disconnects, even while a
// handler is still running, and ends when the connection does.
func (st *serveState) readLoop(c *conn, items chan<- item) {
	idle := c.idle
	for c.ctx.Err() == nil {
		// Between frames the client may stay silent indefinitely (or for
		// IdleTimeout); once a frame has started, it must arrive within
		// the frame timeout.
		inFrame := false
		started := func() {
			inFrame = true
			c.nc.SetReadDeadline(time.Now().Add(st.frameTimeout))
		}
		switch {
		case idle > 0 && c.pending.Load() > 0:
			c.nc.SetReadDeadline(time.Now().Add(idle))
		case idle > 0:
			c.nc.SetReadDeadline(time.Unix(0, c.lastDone.Load()).Add(idle))
		default:
			c.nc.SetReadDeadline(time.Time{})
		}
		req, err := decodeRequest(c.nc, started)
		if err != nil {
			var perr *Error
			var ne net.Error
			switch {
			case errors.As(err, &perr):
				// A protocol violation: answered after any request in
				// progress, then the connection is closed.
			case errors.As(err, &ne) && ne.Timeout() && !inFrame:
				if idle > 0 && (c.pending.Load() > 0 || time.Since(time.Unix(0, c.lastDone.Load())) < idle) {
					continue // a request is in progress, or was recently
				}
				st.log.Debug("closing idle mfad control connection", "peer_pid", c.peer.PID, "idle_timeout", idle)
				c.cancel(errors.New("the mfad control connection was idle for too long"))
				return
			case errors.As(err, &ne) && ne.Timeout():
				st.log.Warn("mfad client stalled in the middle of a message; disconnecting it", "peer_pid", c.peer.PID, "frame_timeout", st.frameTimeout)
				err = &Error{Code: CodeTimeout, Message: fmt.Sprintf("the mfad daemon waited more than %s for the rest of a message and gave up: retry the command", st.frameTimeout)}
			default:
				c.cancel(errClientHungUp{err: err})
				return
			}
			select {
			case items <- item{err: err}:
			case <-c.ctx.Done():
			}
			return
		}
		c.pending.Add(1)
		select {
		case items <- item{req: req}:
		case <-c.ctx.Done():
			return
		}
	}
}

// requestLoop answers the requests handed over by the read loop, one at a
// time and in order, until the connection ends.
func (st *serveState) requestLoop(c *conn, items <-chan item) {
	for {
		var it item
		select {
		case <-c.ctx.Done():
			return
		case it = <-items:
		}
		if c.ctx.Err() != nil {
			// The client hung up or the server is stopping: requests still
			// queued are not started.
			return
		}
		if it.err != nil {
			var perr *Error
			if errors.As(it.err, &perr) && perr.Code != CodeTimeout {
				st.log.Warn("closing mfad control connection after an invalid message", "peer_pid", c.peer.PID, "code", perr.Code)
			}
			st.write(c, &Response{V: ProtocolVersion, ID: 0, Error: perr})
			return
		}
		resp, fatal := st.handle(c, it.req)
		c.lastDone.Store(time.Now().UnixNano())
		c.pending.Add(-1)
		if err := st.write(c, resp); err != nil || fatal {
			return
		}
	}
}

// handle runs the handler for req and returns the response to send, and
// whether the connection must be closed afterwards.
func (st *serveState) handle(c *conn, req *Request) (resp *Response, fatal bool) {
	if req.V != ProtocolVersion {
		st.log.Warn("mfad client speaks another protocol version", "peer_pid", c.peer.PID, "client_version", req.V, "daemon_version", ProtocolVersion)
		return errorResponse(req.ID, CodeVersion, fmt.Sprintf("the mfad CLI (protocol %d) and the daemon (protocol %d) differ: restart the daemon (`mfad daemon`) after upgrading", req.V, ProtocolVersion)), false
	}
	if req.Op == "" {
		return errorResponse(req.ID, CodeMalformed, "request names no operation: the mfad CLI and daemon may be from different builds; restart the daemon (`mfad daemon`)"), false
	}
	if c.reserved && (st.srv.Priority == nil || !st.srv.Priority(req.Op)) {
		st.log.Warn("refusing an mfad request in a reserved slot: too many connections", "op", req.Op, "peer_pid", c.peer.PID, "max_conns", cap(st.slots))
		return errorResponse(req.ID, CodeBusy, fmt.Sprintf("the mfad daemon is already serving %d connections, and keeps its last slots for status, lock and token revocation: close other mfad commands (for example finished `mfad exec` sessions) and try again", cap(st.slots))), true
	}
	defer func() {
		if r := recover(); r != nil {
			st.log.Error("mfad request handler panicked; closing the connection", "op", req.Op, "id", req.ID, "peer_pid", c.peer.PID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = errorResponse(req.ID, CodeInternal, fmt.Sprintf("the mfad daemon failed while handling %q (see the daemon's log): retry, and report it if it persists", req.Op))
			fatal = true
		}
	}()
	st.log.Debug("mfad request", "op", req.Op, "id", req.ID, "peer_pid", c.peer.PID)
	out := st.srv.Handler.ServeIPC(c, req)
	if out == nil {
		out = &Response{}
	}
	r := *out
	r.V, r.ID = ProtocolVersion, req.ID
	return &r, false
}

func errorResponse(id uint64, code Code, msg string) *Response {
	return &Response{V: ProtocolVersion, ID: id, Error: &Error{Code: code, Message: msg}}
}

// write sends resp on c within the frame timeout. A response too large to
// send is replaced by a CodeInternal error.
func (st *serveState) write(c *conn, resp *Response) error {
	c.nc.SetWriteDeadline(time.Now().Add(st.frameTimeout))
	err := EncodeResponse(c.nc, resp)
	var tooLarge errFrameTooLarge
	if errors.As(err, &tooLarge) {
		st.log.Error("mfad response too large to send", "id", resp.ID, "size", tooLarge.size, "max", MaxMessageSize)
		err = EncodeResponse(c.nc, errorResponse(resp.ID, CodeInternal, "the mfad daemon's answer was too large to send: report this as a bug"))
	}
	if err != nil {
		st.log.Debug("could not send mfad response", "id", resp.ID, "peer_pid", c.peer.PID, "err", err)
	}
	return err
}
