//go:build freebsd

package ipc

// peerPID returns 0: LOCAL_PEERCRED on FreeBSD carries no pid that
// golang.org/x/sys exposes, so the peer's pid is reported as unknown.
func peerPID(uintptr) int { return 0 }
