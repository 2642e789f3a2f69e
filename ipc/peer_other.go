//go:build !linux && !darwin && !freebsd && !windows

package ipc

import (
	"fmt"
	"runtime"
)

// peerFromFD refuses: mfad has no way to verify who is at the other end of
// a Unix socket on this platform, and serving unverified peers would hand
// credentials to any local user who can reach the socket.
func peerFromFD(uintptr) (Peer, error) {
	return Peer{}, fmt.Errorf("mfad cannot verify Unix socket peers on %s: the daemon is supported on Linux, macOS, FreeBSD and Windows", runtime.GOOS)
}
