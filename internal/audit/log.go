package audit

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/peerproc"
)

const (
	// Tick is how often the writer reads the connections' counts while
	// some are still to be written.
	Tick = 2 * time.Second
	// Quiet is how long a process must have stopped asking before its
	// count is written.
	Quiet = 4 * time.Second
	// Hold is the longest a count is held while its process keeps asking.
	Hold = time.Minute
	// forget is how long the log remembers a process's requests once it
	// has stopped asking: asking again later writes a new Fetch line.
	forget = time.Hour
	// maxAggs bounds the processes and keys remembered.
	maxAggs = 4096
	// resolveBurst and resolveGather bound how often the processes behind
	// new connections are searched for while connections pour in.
	resolveBurst  = 8
	resolveGather = 20 * time.Millisecond
	// queueSize is how many other entries (token events, credential-process
	// calls) wait for the writer before new ones are counted as dropped.
	queueSize = 4096
)

// Log is the audit log. Endpoint requests are counted on their connection
// (Conn); other events are queued (Record). One goroutine, started when the
// first event comes, finds the client processes and writes the lines.
// A Log with no writer records nothing. Its methods are safe for
// concurrent use.
type Log struct {
	w     io.Writer
	clock clock.Clock
	log   *slog.Logger
	find  Finder
	// shared counts requests that come with no connection record.
	shared *Conn
	// sleeping is set while the writer waits with nothing to write: the
	// next request on a known key wakes it (see nudge).
	sleeping atomic.Bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// mu guards what follows.
	mu      sync.Mutex
	started bool
	closed  bool
	queue   []Entry
	drops   int64
	byNet   map[net.Conn]*Conn
	active  map[*Conn]struct{}
	closing []*Conn
	seq     uint64 // of the last connection record
	timer   clock.Timer
	// manual: no writer goroutine; tests call pass.
	manual bool

	// gathering is set while lookups wait for the end of a window.
	gathering atomic.Bool

	// Used by the writer goroutine only:
	windowStart time.Time
	windowCount int
	buf         bytes.Buffer
	enc         *json.Encoder
	aggs        map[aggKey]*agg
	lookups     lookupLimiter
	failing     bool
}

// aggKey is what one count line counts: one key of one process.
type aggKey struct {
	key
	pid, uid int
	exe      string
}

// agg is the requests of one process for one key, across its connections.
type agg struct {
	k    aggKey
	proc process
	// since is the time of the last line written about it (unix ns).
	since int64
	// pending requests are counted but not written; last is the latest.
	pending int64
	last    int64
	// refs counts the open connections' counters that feed it.
	refs int
}

// New returns a Log writing to w (nil: a Log that records nothing), on
// clock c, reporting write failures to log.
func New(w io.Writer, c clock.Clock, log *slog.Logger) *Log {
	return newLog(w, c, log, peerproc.NewFinder())
}

func newLog(w io.Writer, c clock.Clock, log *slog.Logger, find Finder) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if w == nil {
		return &Log{}
	}
	a := &Log{w: w, clock: c, log: log, find: find,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	a.shared = &Conn{log: a, shared: true, resolved: true, proc: unknownProcess("no connection")}
	a.enc = json.NewEncoder(&a.buf)
	return a
}

// Enabled reports whether the log records anything.
func (a *Log) Enabled() bool { return a != nil && a.w != nil }

// Shared returns the record of requests that come with no connection
// record (a handler called directly); nil when the log records nothing.
func (a *Log) Shared() *Conn {
	if !a.Enabled() {
		return nil
	}
	return a.shared
}

// Record queues e, a token event or a credential-process call; the writer
// fills in its process from e.PID. When the queue is full the entry is
// counted as dropped rather than slowing a client down, and the count is
// logged with the next entry. Entries recorded once the log is closed are
// discarded.
func (a *Log) Record(e Entry) {
	if !a.Enabled() {
		return
	}
	if e.Time.IsZero() {
		e.Time = a.clock.Now()
	}
	a.mu.Lock()
	if len(a.queue) < queueSize {
		a.queue = append(a.queue, e)
	} else {
		a.drops++
	}
	a.mu.Unlock()
	a.wakeUp()
}

// wakeUp makes the writer run a pass soon, starting it if needed.
func (a *Log) wakeUp() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if !a.started && !a.manual {
		a.started = true
		go a.run()
	}
	a.mu.Unlock()
	a.sleeping.Store(false)
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// nudge wakes a sleeping writer: a request was counted under a known key.
func (a *Log) nudge() {
	if a.sleeping.CompareAndSwap(true, false) {
		a.wakeUp()
	}
}

// Close writes every count and entry pending and stops the writer.
func (a *Log) Close() {
	if !a.Enabled() {
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	started := a.started
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	if started {
		close(a.stop)
		<-a.done
	}
}

func (a *Log) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
			a.pass(false)
		case <-a.stop:
			a.pass(true)
			return
		}
	}
}

// pass writes the queued entries, the first request of every new key, and
// the counts that are due (all of them when final).
func (a *Log) pass(final bool) {
	now := a.clock.Now()
	a.mu.Lock()
	queue, drops := a.queue, a.drops
	a.queue, a.drops = nil, 0
	conns := make([]*Conn, 0, len(a.active)+len(a.closing)+1)
	for c := range a.active {
		conns = append(conns, c)
	}
	closing := a.closing
	a.closing = nil
	a.mu.Unlock()
	if drops > 0 {
		a.encode(Entry{Time: now, Event: Dropped, Count: drops, Reason: "the audit log could not keep up"})
	}
	for _, e := range queue {
		if e.PID != 0 && e.Exe == "" {
			// Not captured when the client connected: look it up now.
			lookupPID(a.find, e.PID).fill(&e)
		}
		a.encode(e)
	}
	a.resolve(conns, now, final)
	a.resolve(closing, now, true) // last chance: they are forgotten after this pass
	for _, c := range conns {
		a.collect(c, now)
	}
	for _, c := range closing {
		a.collect(c, now) // the last time: it is forgotten
	}
	pending := a.writeCounts(now.UnixNano(), final)
	a.flush()
	if final {
		return
	}
	if !pending {
		// Nothing to write until a request comes: sleep, then look once
		// more for requests counted before they could see the flag.
		a.sleeping.Store(true)
		for _, c := range conns {
			a.collect(c, now)
		}
		for _, g := range a.aggs {
			pending = pending || g.pending > 0
		}
		if !pending || !a.sleeping.CompareAndSwap(true, false) {
			return
		}
	}
	a.mu.Lock()
	if a.timer == nil && !a.closed {
		a.timer = a.clock.AfterFunc(Tick, func() {
			a.mu.Lock()
			a.timer = nil
			a.mu.Unlock()
			a.wakeUp()
		})
	}
	a.mu.Unlock()
}

// resolve finds the processes behind the connections not looked up yet,
// newest first: looking up a connection indexes every socket its process
// holds, so that the older connections of a client opening many are found
// without searching again. Unless must, lookups may wait for the end of a
// burst of connections.
func (a *Log) resolve(conns []*Conn, now time.Time, must bool) {
	var todo []*Conn
	for _, c := range conns {
		if !c.resolved {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 {
		return
	}
	// A client opening connections one after another would have its
	// process searched once per pass; past resolveBurst connections in a
	// resolveGather window, the next lookups wait for the window's end and
	// are made together.
	if now.Sub(a.windowStart) >= resolveGather {
		a.windowStart, a.windowCount = now, 0
	}
	if !must && a.windowCount >= resolveBurst {
		if a.gathering.CompareAndSwap(false, true) {
			a.clock.AfterFunc(a.windowStart.Add(resolveGather).Sub(now), func() {
				a.gathering.Store(false)
				a.wakeUp()
			})
		}
		return
	}
	a.windowCount += len(todo)
	slices.SortFunc(todo, func(x, y *Conn) int { return cmp.Compare(y.seq, x.seq) })
	for _, c := range todo {
		counters, _ := c.snapshot()
		if len(counters) == 0 {
			continue
		}
		c.resolved = true
		unauth := true
		for _, x := range counters {
			unauth = unauth && x.unauth
		}
		if unauth && !a.lookups.allow(now) {
			c.proc = unknownProcess(refusalNote)
		} else {
			c.proc = lookupConn(a.find, c.client, c.server)
		}
	}
}

// collect passes c's new requests on to their aggregates, writing the
// first request of a process for a key at once.
func (a *Log) collect(c *Conn, now time.Time) {
	if !c.resolved {
		return // counted since this pass's lookups: the next pass has it
	}
	counters, closed := c.snapshot()
	for _, x := range counters {
		n := x.n.Load()
		if x.agg == nil {
			x.agg = a.aggFor(x.key, c.proc)
			x.agg.refs++
			if x.agg.since == 0 {
				// The process's first request for this key.
				e := Entry{Time: time.Unix(0, x.first), Event: Fetch}
				x.agg.fill(&e)
				a.encode(e)
				x.agg.since = x.first
				x.seen = 1
			}
		}
		if d := n - x.seen; d > 0 {
			x.seen = n
			g := x.agg
			g.pending += d
			if l := x.lastAt.Load(); l > g.last {
				g.last = l
			}
		}
		if closed {
			x.agg.refs--
		}
	}
}

func (a *Log) aggFor(k key, p process) *agg {
	ak := aggKey{key: k, pid: p.pid, uid: p.uid, exe: p.exe}
	if g := a.aggs[ak]; g != nil {
		return g
	}
	if a.aggs == nil {
		a.aggs = map[aggKey]*agg{}
	}
	g := &agg{k: ak, proc: p}
	a.aggs[ak] = g
	return g
}

// fill sets e's request and process fields.
func (g *agg) fill(e *Entry) {
	e.Via, e.Profile, e.TokenID, e.Status, e.Reason = g.k.via, g.k.profile, g.k.tokenID, g.k.status, g.k.reason
	g.proc.fill(e)
}

// writeCounts writes the counts that are due at now: those of processes
// that have stopped asking for Quiet, those held for Hold, and all when
// final. It forgets processes idle for long, and reports whether counts
// remain to be written.
func (a *Log) writeCounts(now int64, final bool) bool {
	var due []*agg
	pending := false
	for k, g := range a.aggs {
		switch {
		case g.pending > 0 && (final || now-g.last >= int64(Quiet) || now-g.since >= int64(Hold)):
			due = append(due, g)
		case g.pending > 0:
			pending = true
		case g.refs == 0 && (now-max(g.since, g.last) >= int64(forget) || len(a.aggs) > maxAggs):
			delete(a.aggs, k)
		}
	}
	slices.SortFunc(due, func(x, y *agg) int { return int(min(max(x.last-y.last, -1), 1)) })
	for _, g := range due {
		e := Entry{Time: time.Unix(0, g.last), Since: time.Unix(0, g.since), Event: Fetches, Count: g.pending}
		g.fill(&e)
		a.encode(e)
		g.since, g.pending = g.last, 0
	}
	return pending
}

func (a *Log) encode(e Entry) {
	_ = a.enc.Encode(e)
	if a.buf.Len() >= 64<<10 {
		a.flush()
	}
}

// flush writes whole lines to the log.
func (a *Log) flush() {
	if a.buf.Len() == 0 {
		return
	}
	_, err := a.w.Write(a.buf.Bytes())
	a.buf.Reset()
	switch {
	case err != nil && !a.failing:
		a.failing = true
		a.log.Error("cannot write the audit log; entries are lost until writing works again", "error", err)
	case err == nil && a.failing:
		a.failing = false
		a.log.Info("the audit log is written again")
	}
}
