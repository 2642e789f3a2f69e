//go:build linux

package ipc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// peerFromFD reads the credentials of the process at the other end of the
// Unix socket fd, as recorded by the kernel when the connection was made.
func peerFromFD(fd uintptr) (Peer, error) {
	cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Peer{}, fmt.Errorf("reading peer credentials (SO_PEERCRED): %w", err)
	}
	return Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}, nil
}
