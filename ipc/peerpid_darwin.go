//go:build darwin

package ipc

import "golang.org/x/sys/unix"

// peerPID returns the pid of the process at the other end of the Unix
// socket fd (LOCAL_PEERPID), or 0 when it is unavailable.
func peerPID(fd uintptr) int {
	pid, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	if err != nil {
		return 0
	}
	return pid
}
