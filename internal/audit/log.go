package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/peerproc"
)

// queueSize is how many entries wait for the writer goroutine before new
// ones are counted as dropped.
const queueSize = 4096

const (
	// burstSize and burstGather: after a batch of at least burstSize
	// entries, the next batch is given burstGather to gather, so that a
	// saturated endpoint wakes the writer once per batch rather than once
	// per request. Sparse requests are handled at once.
	burstSize   = 8
	burstGather = 20 * time.Millisecond
)

// Log writes entries as JSON lines from one goroutine, so that the
// endpoint's hot path only hands an entry over a channel. The goroutine
// also finds the client process of each entry, at once, while the client
// normally still holds its connection. A Log with no writer records
// nothing. Its methods are safe for concurrent use.
type Log struct {
	w     io.Writer
	clock clock.Clock
	log   *slog.Logger
	procs procCache
	ch    chan Entry
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	drops atomic.Int64
	refs  refusals

	// server is the endpoint's address (set before it serves), the other
	// end of every endpoint connection, for the process lookup.
	server atomic.Pointer[string]
	// failing is set while writes fail (writer goroutine only).
	failing bool
	// lastBatch is the size of the last batch written (writer only).
	lastBatch int
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
	a := &Log{w: w, clock: c, log: log, procs: procCache{find: find}}
	a.refs = refusals{clock: c, record: a.Record}
	if w == nil {
		return a
	}
	a.ch = make(chan Entry, queueSize)
	a.stop = make(chan struct{})
	a.done = make(chan struct{})
	go a.run()
	return a
}

// Enabled reports whether the log records anything.
func (a *Log) Enabled() bool { return a != nil && a.ch != nil }

// SetServer tells the log the endpoint's address, the other end of every
// endpoint connection, so that it can find the clients' processes.
func (a *Log) SetServer(hostport string) { a.server.Store(&hostport) }

func (a *Log) run() {
	defer close(a.done)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// noteDrops writes how many entries were lost since the last line.
	noteDrops := func() {
		if n := a.drops.Swap(0); n > 0 {
			_ = enc.Encode(Entry{Time: a.clock.Now(), Event: Dropped, Count: n,
				Reason: "the audit log could not keep up"})
		}
	}
	write := func(e Entry) {
		noteDrops()
		server := ""
		if s := a.server.Load(); s != nil {
			server = *s
		}
		a.procs.resolve(&e, server, a.clock.Now())
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
func (a *Log) flush(buf *bytes.Buffer) {
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

// Record queues e; when the queue is full the entry is counted as dropped
// rather than slowing a client down, and the count is logged with the next
// entry. Entries recorded once the log is closed are discarded.
func (a *Log) Record(e Entry) {
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

// AdmitRefusal reports whether a refused request without a valid token is
// to be recorded on its own line; otherwise it is counted for the minute's
// Refused line.
func (a *Log) AdmitRefusal() bool {
	if a.ch == nil {
		return false
	}
	return a.refs.admit()
}

// Close writes what is pending and stops the writer.
func (a *Log) Close() {
	if a.ch == nil {
		return
	}
	a.once.Do(func() {
		a.refs.stop()
		close(a.stop)
		<-a.done
	})
}
