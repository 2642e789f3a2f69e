package ipc

import "errors"

// ErrNoDaemon is wrapped by Dial's error when no daemon listens on the
// socket. The wrapping error names the socket and says how to start one.
var ErrNoDaemon = errors.New("no mfad daemon is running")

// ErrDaemonRunning is wrapped by Listen's error when another daemon already
// serves the socket.
var ErrDaemonRunning = errors.New("an mfad daemon is already running")

// Code is the machine-readable kind of an Error: a short word on the wire.
//
// A Code is itself an error, so that both sides match it with errors.Is:
// a daemon handler returns an error wrapping a Code (fmt.Errorf("…: %w",
// CodeLocked)) and the daemon sends that Code; the client gets an *Error
// that errors.Is reports as that Code. Error returns the word.
type Code string

// Error returns the code's word.
func (c Code) Error() string { return string(c) }

// Codes sent by the transport itself.
const (
	// CodeVersion: the request was written for another ProtocolVersion.
	CodeVersion Code = "version"
	// CodeForbidden: the connecting process does not run as the daemon's user.
	CodeForbidden Code = "forbidden"
	// CodeBusy: the daemon already serves Server.MaxConns connections.
	CodeBusy Code = "busy"
	// CodeInternal: the daemon failed while handling the request.
	CodeInternal Code = "internal"
	// CodeMalformed: the frame was not a valid request.
	CodeMalformed Code = "malformed"
	// CodeTooLarge: the frame announced more than MaxMessageSize bytes.
	CodeTooLarge Code = "too_large"
	// CodeTimeout: the client stopped sending in the middle of a frame.
	CodeTimeout Code = "timeout"
)

// Codes sent by the control operations (see Control).
const (
	// CodeFailed: the operation failed; the message says why and what to do.
	CodeFailed Code = "failed"
	// CodeLocked: the profile has no valid MFA session; the message names
	// the command that unlocks it.
	CodeLocked Code = "locked"
	// CodeUnknownProfile: the daemon's configuration has no such profile.
	CodeUnknownProfile Code = "unknown_profile"
	// CodeBadRequest: the request body does not fit the operation.
	CodeBadRequest Code = "bad_request"
	// CodeUnknownOp: the daemon does not know the operation (it is older
	// than the CLI).
	CodeUnknownOp Code = "unknown_op"
)

// Error is a failure reported by the daemon. Code is a short machine-readable
// word (see the Code constants); Message is meant for the person at the CLI
// and says what to do about it.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error returns the human-readable message.
func (e *Error) Error() string { return e.Message }

// Is reports whether target is e's Code, so that errors.Is(err, CodeLocked)
// matches an error the daemon sent with that code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}
