package stsemu

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FederationPath is the path of the console federation endpoint
// (https://signin.aws.amazon.com/federation on AWS) on the emulator's
// server.
const FederationPath = "/federation"

// Federation endpoint limits, from AWS's "custom identity broker" guide.
const (
	signinTokenLife       = 15 * time.Minute
	minConsoleSession     = 900
	maxConsoleSession     = 43200
	msgInvalidCredentials = "Invalid credentials parameter"
)

// signin is a sign-in token the federation endpoint issued.
type signin struct {
	session  *session
	issuedAt time.Time
	duration time.Duration // console session; 0 = the credentials' own
}

// SigninInfo describes a console sign-in the federation endpoint accepted.
type SigninInfo struct {
	// AccessKeyID is the temporary key id of the credentials signed in.
	AccessKeyID string
	// RoleARN is the role of those credentials.
	RoleARN string
	// IssuedAt is when the sign-in token was issued.
	IssuedAt time.Time
	// ConsoleSessionEnd is when the console session ends.
	ConsoleSessionEnd time.Time
	// Destination is the console URL the login went to.
	Destination string
}

// serveFederation answers the federation endpoint's two actions:
// getSigninToken exchanges role credentials (the Session JSON) for a
// sign-in token; login checks the token and redirects to Destination.
// Like AWS, it accepts only credentials from AssumeRole (GetSessionToken
// credentials are refused), and refuses SessionDuration for role sessions
// assumed with temporary credentials (role chaining).
func (e *Emulator) serveFederation(w http.ResponseWriter, r *http.Request) {
	now := e.Now() // AWS has one clock: the offset applies here too
	q := r.URL.Query()
	call := Call{Time: now, RequestID: requestID(), Action: q.Get("Action")}
	fail := func(status int, msg string) {
		call.Status, call.ErrorCode = status, msg
		http.Error(w, msg, status)
		e.record(r.Context(), call)
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if f, ok := e.takeFault(call.Action); ok {
		if f.Latency > 0 && !waitLatency(r.Context(), f.Latency) {
			call.Status = statusClientClosed
			e.record(r.Context(), call)
			return
		}
		if aerr := f.apiError(); aerr != nil {
			fail(aerr.status, aerr.message)
			return
		}
	}
	switch call.Action {
	case "getSigninToken":
		var creds struct {
			SessionID    string `json:"sessionId"`
			SessionKey   string `json:"sessionKey"`
			SessionToken string `json:"sessionToken"`
		}
		if err := json.Unmarshal([]byte(q.Get("Session")), &creds); err != nil || creds.SessionID == "" {
			fail(http.StatusBadRequest, msgInvalidCredentials)
			return
		}
		call.AccessKeyID = creds.SessionID
		var dur time.Duration
		if raw, ok := q["SessionDuration"]; ok {
			n, err := strconv.Atoi(raw[0])
			if err != nil || n < minConsoleSession || n > maxConsoleSession {
				fail(http.StatusBadRequest, "Invalid SessionDuration parameter")
				return
			}
			dur = time.Duration(n) * time.Second
		}
		e.mu.Lock()
		s, ok := e.sessions[creds.SessionID]
		valid := ok && subtle.ConstantTimeCompare([]byte(s.secret), []byte(creds.SessionKey)) == 1 &&
			subtle.ConstantTimeCompare([]byte(s.token), []byte(creds.SessionToken)) == 1 && now.Before(s.expiration)
		switch {
		case !valid, s.kind != KindRole:
			// GetSessionToken credentials cannot sign in to the console.
			e.mu.Unlock()
			fail(http.StatusBadRequest, msgInvalidCredentials)
			return
		case dur > 0 && s.chained:
			e.mu.Unlock()
			fail(http.StatusBadRequest, msgInvalidCredentials)
			return
		}
		token := signinToken()
		e.signins[token] = &signin{session: s, issuedAt: now, duration: dur}
		e.mu.Unlock()
		call.Status = http.StatusOK
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": token})
		e.record(r.Context(), call)
	case "login":
		info, ok := e.checkLogin(q, now)
		if !ok {
			fail(http.StatusBadRequest, "Invalid SigninToken, Destination or Issuer parameter")
			return
		}
		call.AccessKeyID = info.AccessKeyID
		call.Status = http.StatusFound
		http.Redirect(w, r, info.Destination, http.StatusFound)
		e.record(r.Context(), call)
	default:
		fail(http.StatusBadRequest, "Invalid Action parameter")
	}
}

// checkLogin validates an Action=login request's parameters.
func (e *Emulator) checkLogin(q url.Values, now time.Time) (SigninInfo, bool) {
	dest, err := url.Parse(q.Get("Destination"))
	if err != nil || dest.Scheme != "https" || dest.Host == "" {
		return SigninInfo{}, false
	}
	if iss := q.Get("Issuer"); iss != "" {
		if u, err := url.Parse(iss); err != nil || u.Scheme == "" {
			return SigninInfo{}, false
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	si, ok := e.signins[q.Get("SigninToken")]
	if !ok || !now.Before(si.issuedAt.Add(signinTokenLife)) || !now.Before(si.session.expiration) {
		return SigninInfo{}, false
	}
	end := si.session.expiration
	if si.duration > 0 {
		end = si.issuedAt.Add(si.duration)
	}
	return SigninInfo{AccessKeyID: si.session.accessKeyID, RoleARN: si.session.role.arn, IssuedAt: si.issuedAt,
		ConsoleSessionEnd: end, Destination: dest.String()}, true
}

// CheckLoginURL reports whether a console login URL (Action=login on the
// federation endpoint) would sign in now, and to what.
func (e *Emulator) CheckLoginURL(loginURL string) (SigninInfo, bool) {
	u, err := url.Parse(loginURL)
	if err != nil || u.Path != FederationPath {
		return SigninInfo{}, false
	}
	q := u.Query()
	if q.Get("Action") != "login" {
		return SigninInfo{}, false
	}
	return e.checkLogin(q, e.Now())
}

// signinToken returns a long opaque URL-safe sign-in token.
func signinToken() string {
	b := make([]byte, 256)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
