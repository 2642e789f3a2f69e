package daemon

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxIdleConns is how many keep-alive connections may stay idle past
	// idleGrace; beyond it, the others are closed. An AWS SDK keeps one or
	// two connections per process and asks for credentials once in a long
	// while, so a connection idle for seconds is rarely used again soon,
	// while each holds a goroutine and its buffers.
	maxIdleConns = 16
	// idleGrace is how long a connection may stay idle before it counts
	// against maxIdleConns; the check runs this often while more than
	// maxIdleConns connections are open.
	idleGrace = 5 * time.Second
	// burstConns connections opened and closed make a burst, after which
	// freed memory is returned to the system.
	burstConns = 16
)

// connWatch follows the endpoint's connections: it closes idle keep-alive
// connections beyond maxIdleConns, and once a burst of connections is over
// it has the memory they used returned to the system.
type connWatch struct {
	release func()
	grace   time.Duration // idleGrace

	mu    sync.Mutex
	conns map[*watchedConn]struct{}
	timer *time.Timer
	// opened counts connections opened since the last release.
	opened atomic.Int64
}

// watchConns returns ln with its connections watched, and sets srv's
// ConnState hook (keeping any it has). release is called after bursts.
func watchConns(ln net.Listener, srv *http.Server, release func()) net.Listener {
	w := &connWatch{release: release, grace: idleGrace, conns: map[*watchedConn]struct{}{}}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if prev != nil {
			prev(c, s)
		}
		if wc, ok := c.(*watchedConn); ok {
			switch s {
			case http.StateIdle:
				wc.idle.Store(idleNew)
			case http.StateActive:
				wc.idle.Store(idleNot)
			}
		}
	}
	return &watchListener{Listener: ln, w: w}
}

// Idle states of a connection (watchedConn.idle).
const (
	idleNot  = 0 // serving, or not yet asked anything
	idleNew  = 1 // idle since the last check
	idleLong = 2 // idle across a whole check interval
)

type watchListener struct {
	net.Listener
	w *connWatch
}

// Accept accepts a connection and watches it.
func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &watchedConn{Conn: c, w: l.w}
	l.w.add(wc)
	return wc, nil
}

func (w *connWatch) add(c *watchedConn) {
	w.opened.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns[c] = struct{}{}
	if len(w.conns) > maxIdleConns && w.timer == nil {
		w.timer = time.AfterFunc(w.grace, w.check)
	}
}

func (w *connWatch) remove(c *watchedConn) {
	w.mu.Lock()
	delete(w.conns, c)
	if len(w.conns) == 0 {
		w.conns = map[*watchedConn]struct{}{} // let a burst's map go
	}
	w.mu.Unlock()
	if w.opened.Load() >= burstConns {
		w.opened.Store(0)
		w.release()
	}
}

// check closes the connections idle for a whole interval beyond the first
// maxIdleConns, and runs again while more than maxIdleConns are open.
func (w *connWatch) check() {
	w.mu.Lock()
	kept := 0
	var closing []*watchedConn
	for c := range w.conns {
		switch c.idle.Load() {
		case idleLong:
			if kept < maxIdleConns {
				kept++
			} else {
				closing = append(closing, c)
			}
		case idleNew:
			c.idle.CompareAndSwap(idleNew, idleLong)
		}
	}
	if len(w.conns)-len(closing) > maxIdleConns {
		w.timer = time.AfterFunc(w.grace, w.check)
	} else {
		w.timer = nil
	}
	w.mu.Unlock()
	for _, c := range closing {
		// The client may be sending a request at this very moment: an
		// HTTP client retries a request on a kept-alive connection that
		// the server closed, as it does for the idle timeout.
		c.Close()
	}
}

// watchedConn is a watched connection.
type watchedConn struct {
	net.Conn
	w    *connWatch
	idle atomic.Int32
	once sync.Once
}

// Close closes the connection and stops watching it.
func (c *watchedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.w.remove(c) })
	return err
}

// CloseWrite shuts down the writing side, as *net.TCPConn does.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
