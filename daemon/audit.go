package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/peerproc"
)

// Audit log events (AuditEntry.Event).
const (
	// AuditFetch is a credentials request: on the endpoint (any answer) or
	// through `mfad credential-process`.
	AuditFetch = "fetch"
	// AuditRefused counts endpoint requests without a valid token that were
	// refused but not recorded one by one (over refusalLines a minute).
	AuditRefused = "refused"
	// AuditTokenIssued is an endpoint token handed out.
	AuditTokenIssued = "token_issued"
	// AuditTokenRevoked is an endpoint token revoked.
	AuditTokenRevoked = "token_revoked"
	// AuditDropped counts entries lost because the log could not keep up.
	AuditDropped = "dropped"
)

// AuditEntry is one line of the audit log, in JSON. It never holds a
// secret: tokens appear by id only.
type AuditEntry struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Event is AuditFetch, AuditRefused, AuditTokenIssued, AuditTokenRevoked
	// or AuditDropped.
	Event string `json:"event"`
	// Via is "endpoint", "credential-process" or "control" (token events).
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
	// Count is the number of requests or entries a summary line stands for.
	Count int64 `json:"count,omitempty"`
	// Remote is the client's address on the endpoint.
	Remote string `json:"remote,omitempty"`
	// PID is the client process (0 when it could not be found, for example
	// because it had already closed its connection, or it is another
	// user's).
	PID int `json:"pid"`
	// UID is the client's user id, when known.
	UID *int `json:"uid,omitempty"`
	// Exe is the client's executable, when known.
	Exe string `json:"exe,omitempty"`
	// PPID is the client's parent process, when known.
	PPID int `json:"ppid,omitempty"`
	// ParentExe is the parent's executable, for credential-process (whose
	// client is the `mfad credential-process` its SDK started).
	ParentExe string `json:"parent_exe,omitempty"`
}

// Refused requests without a valid token are recorded one by one up to
// refusalLines per refusalWindow; the rest are counted in one AuditRefused
// line, so that a flood cannot push real history out of the bounded log.
const (
	refusalWindow = time.Minute
	refusalLines  = 60
)

// auditQueue is how many entries wait for the audit goroutine before new
// ones are counted as dropped.
const auditQueue = 4096

// peerFinder finds the processes behind connections and pids.
type peerFinder interface {
	Conn(client, server netip.AddrPort) (peerproc.Process, error)
	Process(pid int) (peerproc.Process, error)
}

// auditLog writes entries as JSON lines from one goroutine, so that the
// endpoint's hot path only hands an entry over a channel. The goroutine
// also finds the client process of each entry, at once, while the client
// normally still holds its connection.
type auditLog struct {
	w     io.Writer
	clock clock.Clock
	log   *slog.Logger
	find  peerFinder
	ch    chan AuditEntry
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	drops atomic.Int64

	// mu guards the refusal window.
	mu          sync.Mutex
	windowEnd   time.Time
	windowLines int
	suppressed  int64
	flushTimer  clock.Timer

	// failing is set while writes fail (used by the audit goroutine only).
	failing bool
	// server is the endpoint's address (set before it serves), the other
	// end of every endpoint connection, for the process lookup.
	server atomic.Pointer[string]
	// lastBatch is the size of the last batch written (audit goroutine only).
	lastBatch int
	// conns caches the process behind each endpoint connection (client and
	// server address), so that a keep-alive client is looked up once per
	// connection rather than once per request (audit goroutine only).
	conns map[connKey]connProc
}

// connKey names one TCP connection to the endpoint.
type connKey struct{ client, server string }

// connProc is a cached lookup; it is trusted for connCacheTTL, well under
// the time before the kernel reuses a closed connection's client port.
type connProc struct {
	p   peerproc.Process
	err error
	at  time.Time
}

const (
	connCacheTTL  = 10 * time.Second
	connCacheSize = 4096
	// burstSize and burstGather: after a batch of at least burstSize
	// entries, the next batch is given burstGather to gather, so that a
	// saturated endpoint wakes the audit goroutine once per batch rather
	// than once per request. Sparse requests are handled at once.
	burstSize   = 8
	burstGather = 20 * time.Millisecond
)

func newAuditLog(w io.Writer, c clock.Clock, log *slog.Logger) *auditLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &auditLog{w: w, clock: c, log: log, find: peerproc.NewFinder()}
	if w == nil {
		return a
	}
	a.ch = make(chan AuditEntry, auditQueue)
	a.stop = make(chan struct{})
	a.done = make(chan struct{})
	go a.run()
	return a
}

func (a *auditLog) run() {
	defer close(a.done)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// noteDrops writes how many entries were lost since the last line.
	noteDrops := func() {
		if n := a.drops.Swap(0); n > 0 {
			_ = enc.Encode(AuditEntry{Time: a.clock.Now(), Event: AuditDropped, Count: n,
				Reason: "the audit log could not keep up"})
		}
	}
	write := func(e AuditEntry) {
		noteDrops()
		a.resolve(&e)
		_ = enc.Encode(e)
	}
	batch := 0
	for {
		select {
		case e := <-a.ch:
			if batch == 0 && len(a.ch) == 0 {
				// A new batch: under load, let it gather.
				if a.lastBatch >= burstSize {
					time.Sleep(burstGather)
				}
			}
			write(e)
			batch++
			if len(a.ch) == 0 || buf.Len() >= 64<<10 {
				a.flush(&buf)
			}
			if len(a.ch) == 0 {
				a.lastBatch, batch = batch, 0
			}
		case <-a.stop:
			for {
				select {
				case e := <-a.ch:
					write(e)
				default:
					noteDrops()
					a.flush(&buf)
					return
				}
			}
		}
	}
}

// flush writes whole lines to the log.
func (a *auditLog) flush(buf *bytes.Buffer) {
	if buf.Len() == 0 {
		return
	}
	_, err := a.w.Write(buf.Bytes())
	buf.Reset()
	switch {
	case err != nil && !a.failing:
		a.failing = true
		a.log.Error("cannot write the audit log; entries are lost until writing works again", "error", err)
	case err == nil && a.failing:
		a.failing = false
		a.log.Info("the audit log is written again")
	}
}

// resolve fills in the process behind e: by pid for control-socket clients,
// else by the endpoint connection's addresses.
func (a *auditLog) resolve(e *AuditEntry) {
	var p peerproc.Process
	var err error
	switch {
	case e.PID != 0:
		p, err = a.find.Process(e.PID)
		p.PID = e.PID
	case e.Remote != "" && a.server.Load() != nil:
		p, err = a.connProcess(e.Remote, *a.server.Load())
		e.PID = p.PID
	default:
		return
	}
	if p.UID >= 0 {
		uid := p.UID
		e.UID = &uid
	}
	if err != nil {
		return
	}
	e.Exe, e.PPID = p.Exe, p.PPID
	if e.Via == "credential-process" && p.PPID > 0 {
		if pp, err := a.find.Process(p.PPID); err == nil {
			e.ParentExe = pp.Exe
		}
	}
}

// connProcess finds the process behind an endpoint connection, from the
// cache while the entry is fresh.
func (a *auditLog) connProcess(remote, server string) (peerproc.Process, error) {
	k := connKey{remote, server}
	now := a.clock.Now()
	if c, ok := a.conns[k]; ok && now.Sub(c.at) < connCacheTTL && c.err == nil {
		return c.p, nil
	}
	client, cerr := netip.ParseAddrPort(remote)
	srv, serr := netip.ParseAddrPort(server)
	if cerr != nil || serr != nil {
		return peerproc.Process{UID: -1}, fmt.Errorf("unparsable connection %s → %s", remote, server)
	}
	p, err := a.find.Conn(client, srv)
	if a.conns == nil || len(a.conns) >= connCacheSize {
		a.conns = make(map[connKey]connProc)
	}
	a.conns[k] = connProc{p: p, err: err, at: now}
	return p, err
}

// record queues e; when the queue is full the entry is counted as dropped
// rather than slowing a client down, and the count is logged with the next
// entry. Entries recorded once the log is closed are discarded.
func (a *auditLog) record(e AuditEntry) {
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
		a.mu.Lock()
		if a.flushTimer != nil {
			a.flushTimer.Stop()
			a.flushTimer = nil
		}
		if a.suppressed > 0 {
			a.record(a.refusedSummaryLocked())
		}
		a.mu.Unlock()
		close(a.stop)
		<-a.done
	})
}

// admitRefusal reports whether a refused request without a valid token is
// recorded on its own line; otherwise it is counted for the window's
// AuditRefused line.
func (a *auditLog) admitRefusal() bool {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !now.Before(a.windowEnd) {
		if a.suppressed > 0 {
			// The timer has not run yet: write the last window's count now.
			a.record(a.refusedSummaryLocked())
		}
		a.windowEnd = now.Add(refusalWindow)
		a.windowLines = 0
	}
	if a.windowLines < refusalLines {
		a.windowLines++
		return true
	}
	a.suppressed++
	if a.flushTimer == nil {
		a.flushTimer = a.clock.AfterFunc(a.windowEnd.Sub(now), a.flushRefusals)
	}
	return false
}

// flushRefusals writes the AuditRefused line of a window that has ended.
func (a *auditLog) flushRefusals() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushTimer = nil
	if a.suppressed > 0 {
		a.record(a.refusedSummaryLocked())
	}
}

func (a *auditLog) refusedSummaryLocked() AuditEntry {
	n := a.suppressed
	a.suppressed = 0
	return AuditEntry{Event: AuditRefused, Via: "endpoint", Count: n,
		Reason: fmt.Sprintf("more than %d requests without a valid token in %s: counted, not recorded one by one", refusalLines, refusalWindow)}
}

// fetched records an endpoint request that carried a valid token; reason
// says why it was refused, if it was.
func (d *Daemon) fetched(r *http.Request, profile, tokenID string, status int, reason string) {
	if d.audit.ch == nil {
		return
	}
	d.audit.record(AuditEntry{Event: AuditFetch, Via: "endpoint", Profile: profile, TokenID: tokenID, Status: status,
		Reason: reason, Remote: r.RemoteAddr})
}

// auditToken records a token being issued or revoked. pid is the process
// that asked for it, when known.
func (d *Daemon) auditToken(event string, t Token, pid int, reason string) {
	d.audit.record(AuditEntry{Event: event, Via: "control", Profile: t.Profile, TokenID: t.ID, TokenKind: t.Kind,
		Label: t.Label, Reason: reason, PID: pid})
}

// MaxAuditSize is the size past which the audit log file is rotated.
const MaxAuditSize = 10 << 20

// AuditFile is an append-only audit log file that keeps its size bounded:
// when it would grow past its limit, it is renamed to PATH.1 (replacing the
// previous one) and a new file is started, so the log never takes much
// more than twice the limit. It is safe for concurrent use; writes of whole
// lines never straddle two files.
type AuditFile struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenAuditFile opens the audit log at path for appending (mode 0600, in a
// 0700 directory created when missing), rotating it first when it already
// holds max bytes or more (max <= 0 means MaxAuditSize).
func OpenAuditFile(path string, max int64) (*AuditFile, error) {
	if max <= 0 {
		max = MaxAuditSize
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the audit log directory: %w (set MFAD_AUDIT_LOG to another path)", err)
	}
	a := &AuditFile{path: path, max: max}
	if fi, err := os.Stat(path); err == nil && fi.Size() >= max {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate the audit log: %w (move %s away, or set MFAD_AUDIT_LOG to another path)", err, path)
		}
	}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *AuditFile) open() error {
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open the audit log: %w (set MFAD_AUDIT_LOG to another path)", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open the audit log: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Entries name profiles, processes and tokens: keep them private.
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return fmt.Errorf("restrict the audit log %s to mode 0600: %w", a.path, err)
		}
	}
	a.f, a.size = f, fi.Size()
	return nil
}

// Write appends p, which must hold whole lines, rotating the file first
// when p would take it past its limit.
func (a *AuditFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return 0, errors.New("the audit log is closed")
	}
	if a.size > 0 && a.size+int64(len(p)) > a.max {
		old := a.f
		if err := os.Rename(a.path, a.path+".1"); err == nil {
			if err := a.open(); err == nil {
				old.Close()
			} else {
				a.f = old // keep appending to the renamed file
			}
		}
	}
	n, err := a.f.Write(p)
	a.size += int64(n)
	return n, err
}

// Close closes the file.
func (a *AuditFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
