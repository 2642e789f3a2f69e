package daemon

import (
	"net/http"

	"github.com/c0950fac/mfad/internal/audit"
)

// fetched records an endpoint request in the audit log.
func (d *Daemon) fetched(r *http.Request, profile, tokenID string, status int) {
	if !d.audit.Enabled() {
		return
	}
	reason := ""
	if tokenID == "" && status != http.StatusOK {
		if !d.audit.AdmitRefusal() {
			return
		}
		switch status {
		case http.StatusMethodNotAllowed:
			reason = "method_not_allowed"
		case http.StatusNotFound:
			reason = "no_such_profile"
		case http.StatusForbidden:
			reason = "wrong_host_or_browser"
		}
	} else if status == http.StatusForbidden {
		reason = "token_for_another_profile"
	}
	d.audit.Record(audit.Entry{Event: audit.Fetch, Via: audit.ViaEndpoint, Profile: profile, TokenID: tokenID, Status: status,
		Reason: reason, Remote: r.RemoteAddr})
}

// refused records in the audit log an endpoint request for profile whose
// Authorization header holds no valid token.
func (d *Daemon) refused(r *http.Request, profile string) {
	if !d.audit.Enabled() || !d.audit.AdmitRefusal() {
		return
	}
	id, reason := d.tokens.explain(r.Header.Get("Authorization"))
	d.audit.Record(audit.Entry{Event: audit.Fetch, Via: audit.ViaEndpoint, Profile: profile, TokenID: id,
		Status: http.StatusForbidden, Reason: reason, Remote: r.RemoteAddr})
}

// auditToken records a token being issued or revoked. pid is the process
// that asked for it, when known.
func (d *Daemon) auditToken(event string, t Token, pid int, reason string) {
	d.audit.Record(audit.Entry{Event: event, Via: audit.ViaControl, Profile: t.Profile, TokenID: t.ID, TokenKind: t.Kind,
		Label: t.Label, Reason: reason, PID: pid})
}
