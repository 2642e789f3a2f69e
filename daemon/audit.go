package daemon

import (
	"net/http"

	"github.com/c0950fac/mfad/internal/audit"
)

// fetched records in the audit log an endpoint request that carried a valid
// token; reason says why it was refused, if it was.
func (d *Daemon) fetched(r *http.Request, profile, tokenID string, status int, reason string) {
	if !d.audit.Enabled() {
		return
	}
	d.audit.Record(audit.Entry{Event: audit.Fetch, Via: audit.ViaEndpoint, Profile: profile, TokenID: tokenID, Status: status,
		Reason: reason, Remote: r.RemoteAddr})
}

// refused records in the audit log an endpoint request for profile whose
// Authorization header holds no valid token, with reason, or else why the
// token is not valid.
func (d *Daemon) refused(r *http.Request, profile, reason string) {
	if !d.audit.Enabled() || !d.audit.AdmitRefusal() {
		return
	}
	id, why := d.tokens.explain(r.Header.Get("Authorization"))
	if reason == "" {
		reason = why
	}
	d.audit.Record(audit.Entry{Event: audit.Fetch, Via: audit.ViaEndpoint, Profile: profile, TokenID: id,
		Status: http.StatusForbidden, Reason: reason, Remote: r.RemoteAddr})
}

// auditToken records a token being issued or revoked. pid is the process
// that asked for it, when known.
func (d *Daemon) auditToken(event string, t Token, pid int, reason string) {
	d.audit.Record(audit.Entry{Event: event, Via: audit.ViaControl, Profile: t.Profile, TokenID: t.ID, TokenKind: t.Kind,
		Label: t.Label, Reason: reason, PID: pid})
}
