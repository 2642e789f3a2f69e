// Package audit is mfad's audit log: which process fetched which profile's
// credentials, when and with what answer, and which endpoint tokens were
// handed out and revoked. It never holds a secret: tokens appear by id.
//
// The log is JSON lines (Entry), written by one goroutine so that the
// endpoint's hot path never waits for it, into a File that rotates itself.
// Endpoint requests are counted, not written one by one: a line when a
// process first fetches a profile (Fetch), then a count of its further
// requests every few seconds while it keeps asking (Fetches), so that a
// client fetching in a loop costs the daemon an atomic add per request and
// the log a line a minute.
package audit

import "time"

// Events (Entry.Event).
const (
	// Fetch is the first credentials request of a process for a profile
	// with a given answer: on the endpoint (any answer) or through `mfad
	// credential-process`. Time is when it was made.
	Fetch = "fetch"
	// Fetches counts the requests of a process that repeat an earlier
	// Fetch (same profile, token, status and reason): Count requests made
	// after Since, the last at Time. One line stands for many requests: it
	// is written a few seconds after the process stops asking, and at
	// least every minute while it keeps asking.
	Fetches = "fetches"
	// Refused counted refused requests in logs of earlier versions.
	Refused = "refused"
	// TokenIssued is an endpoint token handed out.
	TokenIssued = "token_issued"
	// TokenRevoked is an endpoint token revoked.
	TokenRevoked = "token_revoked"
	// Dropped counts entries lost because the log could not keep up.
	Dropped = "dropped"
	// ConsoleSignin is a console sign-in URL handed out (`mfad login`).
	ConsoleSignin = "console_signin"
	// KeyRotated is a profile's long-term access key replaced (`mfad rotate`).
	KeyRotated = "key_rotated"
)

// Ways a request reaches the daemon (Entry.Via).
const (
	// ViaEndpoint is the credentials endpoint.
	ViaEndpoint = "endpoint"
	// ViaCredentialProcess is `mfad credential-process`, over the control
	// socket.
	ViaCredentialProcess = "credential-process"
	// ViaControl is the control socket (token events).
	ViaControl = "control"
)

// Entry is one line of the audit log, in JSON. It never holds a secret:
// tokens appear by id only.
type Entry struct {
	// Time is when it happened; for Fetches, the last request counted.
	Time time.Time `json:"time"`
	// Since is, for Fetches, the time after which the requests counted
	// were made: that of the previous line about the same requests.
	Since time.Time `json:"since,omitzero"`
	// Event is Fetch, Fetches, TokenIssued, TokenRevoked, ConsoleSignin,
	// KeyRotated or Dropped.
	Event string `json:"event"`
	// Via is ViaEndpoint, ViaCredentialProcess or ViaControl.
	Via string `json:"via,omitempty"`
	// Profile is the profile asked for, or the token's profile.
	Profile string `json:"profile,omitempty"`
	// TokenID is the token used or concerned; for a refused token, the id
	// it claimed when it was well-formed.
	TokenID string `json:"token_id,omitempty"`
	// TokenKind is the kind of token of a token event.
	TokenKind string `json:"token_kind,omitempty"`
	// Label is a token's label (token events).
	Label string `json:"label,omitempty"`
	// Status is the HTTP status answered (fetches).
	Status int `json:"status,omitempty"`
	// Reason says why a request was refused or a token revoked.
	Reason string `json:"reason,omitempty"`
	// Count is the number of requests (Fetches) or entries (Dropped) a
	// line stands for.
	Count int64 `json:"count,omitempty"`
	// PID is the client process (0 when it could not be found, for example
	// because it had already closed its connection, or it is another
	// user's; Note says when it was not looked up).
	PID int `json:"pid"`
	// UID is the client's user id, when known.
	UID *int `json:"uid,omitempty"`
	// Exe is the client's executable, when known.
	Exe string `json:"exe,omitempty"`
	// PPID is the client's parent process, when known.
	PPID int `json:"ppid,omitempty"`
	// ParentExe is the parent's executable, when known (for
	// credential-process, the program that started `mfad
	// credential-process`).
	ParentExe string `json:"parent_exe,omitempty"`
	// Note says why the client process is unknown, when it was not looked
	// up.
	Note string `json:"note,omitempty"`
}
