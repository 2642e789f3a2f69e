package audit

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/c0950fac/mfad/internal/peerproc"
)

// Finder finds the processes behind connections and pids
// (*peerproc.Finder).
type Finder interface {
	Conn(client, server netip.AddrPort) (peerproc.Process, error)
	Process(pid int) (peerproc.Process, error)
}

// procCache remembers the process behind each endpoint connection, so that
// a keep-alive client is looked up once per connection rather than once
// per request. It is used by the writer goroutine only.
type procCache struct {
	find  Finder
	conns map[connKey]connProc
}

// connKey names one TCP connection to the endpoint.
type connKey struct{ client, server string }

// connProc is a cached lookup; it is trusted for connCacheTTL, well under
// the time before the kernel reuses a closed connection's client port.
type connProc struct {
	p   peerproc.Process
	err error
	at  time.Time
}

const (
	connCacheTTL  = 10 * time.Second
	connCacheSize = 4096
)

// resolve fills in the process behind e: by pid for control-socket clients,
// else by the endpoint connection's addresses (server is the endpoint's).
func (c *procCache) resolve(e *Entry, server string, now time.Time) {
	var p peerproc.Process
	var err error
	switch {
	case e.PID != 0 && e.Exe != "":
		return // described when it was recorded; the pid may be reused since
	case e.PID != 0:
		p, err = c.find.Process(e.PID)
		p.PID = e.PID
	case e.Remote != "" && server != "":
		p, err = c.conn(e.Remote, server, now)
		e.PID = p.PID
	default:
		return
	}
	if p.UID >= 0 {
		uid := p.UID
		e.UID = &uid
	}
	if err != nil {
		return
	}
	e.Exe, e.PPID = p.Exe, p.PPID
	if e.Via == ViaCredentialProcess && p.PPID > 0 {
		if pp, err := c.find.Process(p.PPID); err == nil {
			e.ParentExe = pp.Exe
		}
	}
}

// conn finds the process behind an endpoint connection, from the cache
// while the entry is fresh.
func (c *procCache) conn(remote, server string, now time.Time) (peerproc.Process, error) {
	k := connKey{remote, server}
	if p, ok := c.conns[k]; ok && now.Sub(p.at) < connCacheTTL && p.err == nil {
		return p.p, nil
	}
	client, cerr := netip.ParseAddrPort(remote)
	srv, serr := netip.ParseAddrPort(server)
	if cerr != nil || serr != nil {
		return peerproc.Process{UID: -1}, fmt.Errorf("unparsable connection %s → %s", remote, server)
	}
	p, err := c.find.Conn(client, srv)
	if c.conns == nil || len(c.conns) >= connCacheSize {
		c.conns = make(map[connKey]connProc)
	}
	c.conns[k] = connProc{p: p, err: err, at: now}
	return p, err
}
