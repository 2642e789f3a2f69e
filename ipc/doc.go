// Package ipc is the transport between the mfad CLI and the mfad daemon.
//
// The daemon listens on a Unix-domain socket in a per-user runtime
// directory (see RuntimeDir, EnsureRuntimeDir and SocketPath). Only
// processes running as the daemon's own user may talk to it: every accepted
// connection is checked against the peer credentials the operating system
// reports, independently of the socket file's permissions.
//
// The operations are the methods of Control, declared with their request and
// reply types and their wire names (Op) in ops.go; Client implements Control
// over the socket, and the daemon serves it. Errors carry a Code that
// errors.Is matches.
//
// # Wire protocol
//
// Every message, in either direction, is one frame: a 4-byte big-endian
// length followed by that many bytes of JSON (a Request from the CLI, a
// Response from the daemon). A frame body is at most MaxMessageSize bytes;
// the length is checked before anything is allocated for the body.
//
// A connection carries any number of request/response pairs in sequence.
// The daemon answers requests on one connection strictly in order, one at a
// time; a client may send its next request before the previous answer
// arrives. Each Request carries the ProtocolVersion it was written for and
// an ID chosen by the client (starting at 1); the matching Response repeats
// the ID. A Response with ID 0 and an Error reports a problem with the
// connection itself (for example "forbidden" or "busy") and is always the
// daemon's last message on that connection.
//
// A connection stays open for as long as the client keeps it open (or until
// Server.IdleTimeout, when set). The daemon treats the client hanging up as
// the end of everything tied to the connection: Conn.Context is cancelled.
package ipc
