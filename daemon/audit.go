package daemon

import (
	"net/http"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/ipc"
)

// auditConn is the audit record of the connection r came on: the
// connection-less one when the handler is called directly, nil when there
// is no audit log.
func (d *Daemon) auditConn(r *http.Request) *audit.Conn {
	if c := audit.ConnFrom(r.Context()); c != nil {
		return c
	}
	return d.audit.Shared()
}

// servedAt counts in the audit log an endpoint request answered with
// credentials at now (unix nanoseconds): the hot path.
func (d *Daemon) servedAt(r *http.Request, now int64, profile, tokenID string) {
	if c := audit.ConnFrom(r.Context()); c != nil {
		c.Fetch(now, profile, tokenID, http.StatusOK, "")
		return
	}
	if c := d.audit.Shared(); c != nil {
		c.Fetch(now, profile, tokenID, http.StatusOK, "")
	}
}

// fetched counts in the audit log an endpoint request that carried a valid
// token; reason says why it was refused, if it was.
func (d *Daemon) fetched(r *http.Request, profile, tokenID string, status int, reason string) {
	if c := d.auditConn(r); c != nil {
		c.Fetch(d.clock.Now().UnixNano(), profile, tokenID, status, reason)
	}
}

// refused counts in the audit log an endpoint request for profile whose
// Authorization header holds no valid token, with reason, or else why the
// token is not valid.
func (d *Daemon) refused(r *http.Request, profile, reason string) {
	c := d.auditConn(r)
	if c == nil {
		return
	}
	id, why := d.tokens.explain(r.Header.Get("Authorization"))
	if reason == "" {
		reason = why
	}
	c.Refuse(d.clock.Now().UnixNano(), profile, id, http.StatusForbidden, reason)
}

// auditToken records a token being issued or revoked. pid is the process
// that asked for it, when known.
func (d *Daemon) auditToken(event string, t Token, pid int, reason string) {
	d.audit.Record(audit.Entry{Event: event, Via: audit.ViaControl, Profile: t.Profile, TokenID: t.ID, TokenKind: t.Kind,
		Label: t.Label, Reason: reason, PID: pid})
}

// peerEntry is e attributed to the control-socket client p, as it was when
// its connection was accepted: a short-lived client (`mfad env`, a
// credential_process) has often exited by the time the entry is written.
func peerEntry(e audit.Entry, p ipc.Peer) audit.Entry {
	e.PID, e.Exe, e.PPID, e.ParentExe = p.PID, p.Exe, p.PPID, p.ParentExe
	if p.PID > 0 {
		uid := p.UID
		e.UID = &uid
	}
	return e
}
