//go:build linux

package peerproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag interface finds one socket by its addresses at
// the cost of a hash lookup, where /proc/net/tcp lists every socket of the
// system: thousands under a flood of short connections.

// Layouts from linux/inet_diag.h.
const (
	sizeofSockID  = 48 // struct inet_diag_sockid
	sizeofDiagReq = 8 + sizeofSockID
	// struct inet_diag_msg: family, state, timer, retrans, id, expires,
	// rqueue, wqueue, uid, inode.
	sizeofDiagMsg = 4 + sizeofSockID + 5*4
	offDiagUID    = 4 + sizeofSockID + 3*4
	offDiagInode  = offDiagUID + 4
)

// errNoDiag reports that sock_diag cannot be used here.
var errNoDiag = errors.New("sock_diag is not available")

// diagSocket asks sock_diag for the TCP socket whose local address is
// client and remote address server. It returns errNoDiag when the
// interface cannot be used, and an error wrapping ErrNotFound when no
// socket, or only one in TIME_WAIT, has these addresses.
func diagSocket(client, server netip.AddrPort) (inode uint64, uid int, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, -1, fmt.Errorf("%w: %v", errNoDiag, err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, -1, fmt.Errorf("%w: %v", errNoDiag, err)
	}
	if err := unix.Sendto(fd, diagRequest(client, server), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, -1, fmt.Errorf("%w: %v", errNoDiag, err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, -1, fmt.Errorf("%w: %v", errNoDiag, err)
	}
	return parseDiagReply(buf[:n], client.Port(), server.Port())
}

// diagRequest builds a SOCK_DIAG_BY_FAMILY request for one TCP socket, in
// any state, without a cookie.
func diagRequest(client, server netip.AddrPort) []byte {
	c, s := client.Addr().Unmap(), server.Addr().Unmap()
	family := byte(unix.AF_INET6)
	if c.Is4() && s.Is4() {
		family = unix.AF_INET
	}
	b := make([]byte, unix.NLMSG_HDRLEN+sizeofDiagReq)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], 1) // sequence
	r := b[unix.NLMSG_HDRLEN:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], client.Port())
	binary.BigEndian.PutUint16(id[2:], server.Port())
	if family == unix.AF_INET {
		a, z := c.As4(), s.As4()
		copy(id[4:], a[:])
		copy(id[20:], z[:])
	} else {
		a, z := c.As16(), s.As16()
		copy(id[4:], a[:])
		copy(id[20:], z[:])
	}
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)
	return b
}

// tcpListen is TCP_LISTEN in struct inet_diag_msg's state.
const tcpListen = 10

// parseDiagReply reads the inode and uid from a sock_diag reply about the
// connection from port sport to port dport. The kernel answers a lookup
// that finds no connection with the listening socket of the client's port,
// if any: that answer is not the client's.
func parseDiagReply(b []byte, sport, dport uint16) (inode uint64, uid int, err error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN {
		return 0, -1, fmt.Errorf("%w: short reply", errNoDiag)
	}
	switch typ := ne.Uint16(b[4:]); typ {
	case unix.NLMSG_ERROR:
		if len(b) < unix.NLMSG_HDRLEN+4 {
			return 0, -1, fmt.Errorf("%w: short error reply", errNoDiag)
		}
		errno := unix.Errno(-int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])))
		if errno == unix.ENOENT {
			return 0, -1, ErrNotFound
		}
		return 0, -1, fmt.Errorf("%w: %v", errNoDiag, errno)
	case unix.SOCK_DIAG_BY_FAMILY:
		m := b[unix.NLMSG_HDRLEN:]
		if len(m) < sizeofDiagMsg {
			return 0, -1, fmt.Errorf("%w: short reply", errNoDiag)
		}
		inode, uid := uint64(ne.Uint32(m[offDiagInode:])), int(ne.Uint32(m[offDiagUID:]))
		if m[1] == tcpListen || binary.BigEndian.Uint16(m[4:]) != sport || binary.BigEndian.Uint16(m[6:]) != dport {
			return 0, -1, ErrNotFound
		}
		if inode == 0 {
			return 0, -1, ErrNotFound // TIME_WAIT: nobody holds it
		}
		return inode, uid, nil
	default:
		return 0, -1, fmt.Errorf("%w: reply of type %d", errNoDiag, typ)
	}
}
