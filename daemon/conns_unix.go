//go:build unix

package daemon

import "syscall"

// heldLimit is how many connections the endpoint may hold unread: maxHeld,
// or a quarter of the descriptor limit when that is lower, so that the
// owner's connections and the daemon's files always find descriptors.
func heldLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	// Rlimit.Cur is unsigned on most systems and signed on FreeBSD.
	return int(min(uint64(maxHeld), uint64(r.Cur)/4))
}
