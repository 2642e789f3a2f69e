//go:build darwin || freebsd

package ipc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION from <sys/ucred.h>.
const xucredVersion = 0

// peerFromFD reads the credentials of the process at the other end of the
// Unix socket fd (LOCAL_PEERCRED), as recorded by the kernel when the
// connection was made.
func peerFromFD(fd uintptr) (Peer, error) {
	cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Peer{}, fmt.Errorf("reading peer credentials (LOCAL_PEERCRED): %w", err)
	}
	if cred.Version != xucredVersion {
		return Peer{}, fmt.Errorf("reading peer credentials (LOCAL_PEERCRED): unsupported xucred version %d", cred.Version)
	}
	p := Peer{UID: int(cred.Uid), GID: -1, PID: peerPID(fd)}
	if cred.Ngroups > 0 {
		p.GID = int(cred.Groups[0]) // the effective gid
	}
	return p, nil
}
