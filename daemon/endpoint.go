package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// StatusLocked (423 Locked) answers a request for a locked or lapsed
// profile, one that only a person can unlock. Retrying cannot help, so the
// status is one that makes each SDK give up soonest: the AWS SDK for Go v2
// retries a container-credentials answer of 5xx or 429 (its own client, and
// again the service client's retryer, which wraps credential retrieval),
// and no other 4xx; botocore and the AWS CLI retry every non-200 answer
// twice, a second apart, whatever its status; the JavaScript SDK v3's
// default chain makes 1 + 3 requests a second apart (fromHttp) then one more
// (fromContainerMetadata), whatever the status. 403 is the answer for a
// wrong token.
const StatusLocked = http.StatusLocked

// CredentialsPath is the endpoint path prefix; a profile is served at
// CredentialsPath + NAME.
const CredentialsPath = "/v1/credentials/"

// Endpoint serves the container credentials provider protocol that every
// AWS SDK and the AWS CLI speak (AWS_CONTAINER_CREDENTIALS_FULL_URI).
type Endpoint struct {
	d    *Daemon
	host string // the exact Host header clients must send
}

var (
	jsonType    = []string{"application/json"}
	noStore     = []string{"no-store"}
	nosniff     = []string{"nosniff"}
	contentType = "Content-Type"
)

// NewEndpoint returns the endpoint handler for d, answering only requests
// addressed to hostport (the address the daemon listens on).
func (d *Daemon) NewEndpoint(hostport string) *Endpoint {
	return &Endpoint{d: d, host: hostport}
}

// ServeHTTP answers a credentials request. The token is checked first:
// without a valid one, every request gets the same answer, whatever its
// method, Host or path, so nothing (not even which profiles exist) is
// revealed. Every refusal closes the connection. The fast path writes bytes
// prepared when the credentials last changed.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h[contentType] = jsonType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
	name, isCreds := strings.CutPrefix(r.URL.Path, CredentialsPath)
	now := e.d.clock.Now().UnixNano()
	pc := peerConnOf(r.Context())
	if pc != nil {
		// Every request counts, refused or not, towards serving on every P.
		e.d.par.asked(&pc.window, now)
	}
	tok := e.d.tokens.check(headerValue(r.Header, "Authorization"))
	if tok == nil {
		reason := ""
		if !e.addressed(r) || hasBrowserHeaders(r.Header) {
			reason = "wrong_host_or_browser"
		}
		e.d.badToken(w, r, name, reason)
		return
	}
	if r.Method != http.MethodGet {
		h["Allow"] = []string{"GET"}
		e.fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "only GET is served", "", tok.ID, "method_not_allowed")
		return
	}
	// DNS rebinding and browsers: SDKs address the daemon by the exact
	// address it listens on and send none of the headers browsers add.
	if !e.addressed(r) {
		e.fail(w, r, http.StatusForbidden, "Forbidden", "request refused: Host must be "+e.host, "", tok.ID, "wrong_host_or_browser")
		return
	}
	if hasBrowserHeaders(r.Header) {
		e.fail(w, r, http.StatusForbidden, "Forbidden", "request refused: browser requests are not served", "", tok.ID, "wrong_host_or_browser")
		return
	}
	p := e.d.t().profiles[name]
	if !isCreds || p == nil {
		e.fail(w, r, http.StatusNotFound, "NotFound", "no such profile: the endpoint serves "+CredentialsPath+"PROFILE for the profiles in the mfad configuration", "", tok.ID, "no_such_profile")
		return
	}
	if tok.Profile != "" && tok.Profile != name {
		e.fail(w, r, http.StatusForbidden, "AccessDenied", "this token is for profile "+tok.Profile, name, tok.ID, "token_for_another_profile")
		return
	}
	if pc != nil {
		pc.served()
	}
	snap := p.served.Load()
	if snap == nil || now >= snap.staleAt {
		var err error
		// Bounded: a role renewal is an STS call, never a wait for a person.
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		snap, err = e.d.serve(ctx, p)
		cancel()
		if err != nil {
			// A profile that needs a person gets a status no SDK retries
			// (see StatusLocked); a renewal that failed at STS may work on
			// the next try.
			status, code := http.StatusServiceUnavailable, "CredentialsUnavailable"
			if errors.Is(err, ErrLocked) {
				status, code = StatusLocked, "ProfileLocked"
			}
			e.fail(w, r, status, code, err.Error(), name, tok.ID, "")
			return
		}
	} else if now >= snap.refreshAt {
		e.d.kick(p)
	}
	// A length given up front keeps net/http from chunking bodies larger
	// than its buffer (long role session tokens).
	h["Content-Length"] = snap.contentLength
	w.Write(snap.body)
	e.d.servedAt(r, now, name, tok.ID)
}

// headerValue is h.Get(key) for a key already in canonical form: the first
// value, or "". It skips Get's canonicalisation of the key.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// addressed reports whether r names the endpoint exactly as SDKs do: Host
// is the address it listens on, and the request line is in origin form
// ("GET /v1/…"). An absolute-form request line ("GET http://HOST/…"), which
// SDKs never send to a server, would let its authority stand in for Host
// (net/http drops the Host header then), so it is refused.
func (e *Endpoint) addressed(r *http.Request) bool {
	return r.Host == e.host && r.URL.Host == "" && r.URL.Scheme == ""
}

func hasBrowserHeaders(h http.Header) bool {
	if len(h["Origin"]) > 0 || len(h["Referer"]) > 0 {
		return true
	}
	for k := range h {
		if len(k) > 4 && k[:4] == "Sec-" && strings.HasPrefix(k, "Sec-Fetch-") {
			return true
		}
	}
	return false
}

// errorBody is the error shape SDKs read (lower-case keys).
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail answers a request carrying a valid token that is refused, or that
// cannot be served, with status and an error body, and records it. A
// refusal (4xx) closes the connection.
func (e *Endpoint) fail(w http.ResponseWriter, r *http.Request, status int, code, msg, profile, tokenID, reason string) {
	if status < 500 {
		w.Header()["Connection"] = closeConn
		if pc := peerConnOf(r.Context()); pc != nil {
			pc.refused()
		}
	}
	b, _ := json.Marshal(errorBody{Code: code, Message: msg})
	w.WriteHeader(status)
	w.Write(b)
	e.d.fetched(r, profile, tokenID, status, reason)
}

// ListenEndpoint opens the credentials endpoint's listener. addr must be
// 127.0.0.1:PORT: AWS SDKs accept only that loopback address over plain
// HTTP, and any other address could be reached by other machines.
func ListenEndpoint(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w: use 127.0.0.1:PORT (0 = any free port)", addr, err)
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("listen %q refused: mfad serves credentials on 127.0.0.1 only, since other addresses are reachable by other machines or refused by AWS SDKs; use 127.0.0.1:PORT", addr)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for the credentials endpoint: %w", addr, err)
	}
	return ln, nil
}

// NewHTTPServer returns the endpoint's HTTP server with the timeouts and
// limits a local credentials server needs.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: firstRequestTimeout,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
