package ipc

import "errors"

// ErrNoDaemon is wrapped by Dial's error when no daemon listens on the
// socket. The wrapping error names the socket and says how to start one.
var ErrNoDaemon = errors.New("no mfad daemon is running")

// ErrDaemonRunning is wrapped by Listen's error when another daemon already
// serves the socket.
var ErrDaemonRunning = errors.New("an mfad daemon is already running")
