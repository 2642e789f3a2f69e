package ipc

import (
	"fmt"
	"net"
	"syscall"

	"github.com/c0950fac/mfad/internal/peerproc"
)

// Peer identifies the process at the other end of a connection, as reported
// by the operating system when the connection was made. PID is 0 when the
// platform does not report it; GID is -1 when unknown.
type Peer struct {
	UID, GID, PID int
	// Exe, PPID and ParentExe describe the process, its parent and the
	// parent's executable as they were when the connection was accepted
	// (empty or 0 when unknown): read then, they still name a short-lived
	// client after it has exited.
	Exe       string
	PPID      int
	ParentExe string
}

// describe fills in p's executable and parent from find.
func (p *Peer) describe(find *peerproc.Finder) {
	if p.PID <= 0 {
		return
	}
	proc, err := find.Process(p.PID)
	if err != nil {
		return
	}
	p.Exe, p.PPID = proc.Exe, proc.PPID
	if proc.PPID > 0 {
		if parent, err := find.Process(proc.PPID); err == nil {
			p.ParentExe = parent.Exe
		}
	}
}

// connPeer returns the credentials of the process at the other end of nc,
// which must be a Unix-domain socket connection.
func connPeer(nc net.Conn) (Peer, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return Peer{}, fmt.Errorf("connection of type %T is not a Unix socket; cannot identify its peer", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("identifying the connection's peer: %w", err)
	}
	var (
		p    Peer
		perr error
	)
	if err := raw.Control(func(fd uintptr) { p, perr = peerFromFD(fd) }); err != nil {
		return Peer{}, fmt.Errorf("identifying the connection's peer: %w", err)
	}
	if perr != nil {
		return Peer{}, perr
	}
	return p, nil
}
