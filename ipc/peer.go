package ipc

import (
	"fmt"
	"net"
	"syscall"
)

// Peer identifies the process at the other end of a connection, as reported
// by the operating system when the connection was made. PID is 0 when the
// platform does not report it; GID is -1 when unknown.
type Peer struct {
	UID, GID, PID int
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
