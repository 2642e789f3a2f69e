package daemon

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// Every local process reaches the endpoint from 127.0.0.1, so limits by
// client address would hit good and bad clients alike. Instead, requests
// without a valid token draw on a small budget of their own, which
// requests with one never touch, and connections are shared out by peer
// uid (conns.go).

const (
	// badTokenSlots is how many requests without a valid token are held
	// back at once. A request finding every slot taken is answered at once:
	// waiting for a slot would let a flood hold connections good clients
	// need.
	badTokenSlots = 4
	// badTokenDelay is how long a request without a valid token that got a
	// slot waits for its answer: a client guessing tokens one request at a
	// time gets at most 1/badTokenDelay answers a second.
	badTokenDelay = 50 * time.Millisecond
	// badTokenWarnEvery is the least time between two warnings about
	// requests without a valid token.
	badTokenWarnEvery = time.Minute
)

var closeConn = []string{"close"}

// badTokens is the budget and the count of requests without a valid token.
type badTokens struct {
	slots chan struct{}
	delay time.Duration

	mu       sync.Mutex
	pending  int64 // refused since the last warning
	total    int64 // refused since the daemon started
	lastWarn time.Time
	timer    clock.Timer
}

func newBadTokens() *badTokens {
	return &badTokens{slots: make(chan struct{}, badTokenSlots), delay: badTokenDelay}
}

// badToken refuses a request for profile whose Authorization header holds no
// valid token: it counts it, records it in the audit log (with reason, or
// else why the token is not valid), closes the connection after the answer,
// and, when the budget has a free slot, answers only after badTokenDelay.
// The answer is the same for every such request.
func (d *Daemon) badToken(w http.ResponseWriter, r *http.Request, profile, reason string) {
	w.Header()["Connection"] = closeConn
	if pc := peerConnOf(r.Context()); pc != nil {
		pc.refused()
	}
	d.noteBadToken()
	// Recorded before the delay, so that the client process is looked up
	// while it still holds its connection.
	d.refused(r, profile, reason)
	select {
	case d.bad.slots <- struct{}{}:
		if d.bad.delay > 0 {
			t := time.NewTimer(d.bad.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
			t.Stop()
		}
		<-d.bad.slots
	default:
	}
	b, _ := json.Marshal(errorBody{Code: "AccessDenied",
		Message: "missing or invalid authorization token: set AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) from `mfad env`"})
	w.WriteHeader(http.StatusForbidden)
	w.Write(b)
}

// noteBadToken counts a request without a valid token and warns at most
// once per badTokenWarnEvery, with the count since the last warning.
func (d *Daemon) noteBadToken() {
	b := d.bad
	now := d.clock.Now()
	b.mu.Lock()
	b.pending++
	b.total++
	if b.lastWarn.IsZero() || now.Sub(b.lastWarn) >= badTokenWarnEvery {
		n, total := b.pending, b.total
		b.pending, b.lastWarn = 0, now
		b.mu.Unlock()
		d.warnBadTokens(n, total)
		return
	}
	if b.timer == nil {
		b.timer = d.clock.AfterFunc(b.lastWarn.Add(badTokenWarnEvery).Sub(now), d.flushBadTokens)
	}
	b.mu.Unlock()
}

// flushBadTokens warns about the requests counted since the last warning.
func (d *Daemon) flushBadTokens() {
	b := d.bad
	b.mu.Lock()
	b.timer = nil
	n, total := b.pending, b.total
	if n == 0 {
		b.mu.Unlock()
		return
	}
	b.pending, b.lastWarn = 0, d.clock.Now()
	b.mu.Unlock()
	d.warnBadTokens(n, total)
}

func (d *Daemon) warnBadTokens(n, total int64) {
	d.log.Warn("refused credentials requests with a missing or invalid token",
		"count", n, "total", total,
		"hint", "a client holds a revoked token or one from an earlier daemon (run `mfad env` again), or a local process is guessing tokens; `mfad audit` shows the processes")
}

// explain says why value is not a valid token, and the token id it claims
// when it is well-formed (ids are not secret). It never returns any part
// of the secret.
func (r *tokenRegistry) explain(value string) (id, reason string) {
	if value == "" {
		return "", "no_token"
	}
	if len(value) != tokenLen || !strings.HasPrefix(value, tokenPrefix) || value[len(tokenPrefix)+tokenIDLen] != '.' {
		return "", "malformed_token"
	}
	id = value[len(tokenPrefix) : len(tokenPrefix)+tokenIDLen]
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "malformed_token"
		}
	}
	if (*r.m.Load())[id] == nil {
		return id, "unknown_token" // revoked, or from an earlier daemon
	}
	return id, "wrong_secret"
}
