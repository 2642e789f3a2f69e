// Package peerproc finds the local process at the other end of a loopback
// TCP connection, and describes a process by its pid, for mfad's audit log.
//
// A TCP connection carries no peer credentials (unlike a Unix socket's
// SO_PEERCRED), so on Linux the client's socket is looked up by its
// addresses — through the kernel's sock_diag interface, else in
// /proc/net/tcp and /proc/net/tcp6 — which gives its inode and owner uid,
// and the process holding that socket is found among /proc/PID/fd. Only processes whose /proc entries the caller may read are
// found: for a per-user daemon, the user's own. The lookup works while the
// client still holds its socket, which an SDK that keeps its connection
// open normally does. On other systems every lookup reports
// ErrUnsupported.
package peerproc

import "errors"

// Process describes a local process. Fields that could not be read are
// zero (PID, PPID), -1 (UID) or empty (Exe).
type Process struct {
	// PID is the process id.
	PID int
	// UID is the owner: for a connection, the uid that opened the socket.
	UID int
	// Exe is the path of the process's executable.
	Exe string
	// PPID is the parent's process id.
	PPID int
}

// Errors the lookups return, wrapped with details.
var (
	// ErrNotFound reports that no open socket has the given addresses (the
	// client has closed it), or that no readable process holds it (it
	// belongs to another user).
	ErrNotFound = errors.New("no such connection or process")
	// ErrUnsupported reports that this operating system offers no lookup.
	ErrUnsupported = errors.New("process lookup is not supported on this system")
)
