package audit

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/peerproc"
	"github.com/c0950fac/mfad/internal/testenv"
)

var serverAddr = netip.MustParseAddrPort("127.0.0.1:9000")

// fakeFinder knows processes by pid and connections by client port.
type fakeFinder struct {
	mu      sync.Mutex
	procs   map[int]peerproc.Process
	ports   map[uint16]int // client port → pid
	lookups int
}

func newFakeFinder() *fakeFinder {
	return &fakeFinder{procs: map[int]peerproc.Process{}, ports: map[uint16]int{}}
}

func (f *fakeFinder) add(pid, ppid int, exe string, ports ...uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[pid] = peerproc.Process{PID: pid, PPID: ppid, UID: 1000, Exe: exe}
	for _, p := range ports {
		f.ports[p] = pid
	}
}

func (f *fakeFinder) Conn(client, server netip.AddrPort) (peerproc.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if server != serverAddr {
		return peerproc.Process{UID: -1}, peerproc.ErrNotFound
	}
	pid, ok := f.ports[client.Port()]
	if !ok {
		return peerproc.Process{UID: -1}, peerproc.ErrNotFound
	}
	return f.procs[pid], nil
}

func (f *fakeFinder) Process(pid int) (peerproc.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.procs[pid]
	if !ok {
		return peerproc.Process{UID: -1}, peerproc.ErrNotFound
	}
	return p, nil
}

// fakeConn is a net.Conn with addresses only.
type fakeConn struct {
	net.Conn
	client netip.AddrPort
}

func (c fakeConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.client) }
func (c fakeConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(serverAddr) }

// testLog is a Log whose passes the test runs, on a fake clock.
type testLog struct {
	*Log
	clk  *clock.Fake
	find *fakeFinder
	out  *testenv.SafeBuffer
}

func newTestLog(t *testing.T) *testLog {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	find := newFakeFinder()
	out := &testenv.SafeBuffer{}
	a := newLog(out, clk, nil, find)
	a.manual = true
	return &testLog{Log: a, clk: clk, find: find, out: out}
}

// conn opens a connection record from client port.
func (l *testLog) conn(port uint16) (*Conn, net.Conn) {
	nc := fakeConn{client: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
	return ConnFrom(l.ConnContext(context.Background(), nc)), nc
}

func (l *testLog) now() int64 { return l.clk.Now().UnixNano() }

// totals sums the requests the lines stand for, by pid, profile and status.
func totals(es []Entry) map[string]int64 {
	out := map[string]int64{}
	for _, e := range es {
		k := fmt.Sprintf("%d %s %d %s", e.PID, e.Profile, e.Status, e.Reason)
		switch e.Event {
		case Fetch:
			out[k]++
		case Fetches:
			out[k] += e.Count
		}
	}
	return out
}

func TestFirstFetchThenCounts(t *testing.T) {
	l := newTestLog(t)
	l.find.add(777, 700, "/usr/bin/python3", 40000, 40001)
	l.find.add(700, 1, "/bin/bash")
	c1, nc1 := l.conn(40000)
	c1.Fetch(l.now(), "work", "00112233aabbccdd", 200, "")
	l.pass(false)
	es := entries(t, l.out.String())
	if len(es) != 1 {
		t.Fatalf("after the first request: %d lines:\n%s", len(es), l.out)
	}
	e := es[0]
	if e.Event != Fetch || e.PID != 777 || e.Exe != "/usr/bin/python3" || e.PPID != 700 || e.ParentExe != "/bin/bash" ||
		e.UID == nil || *e.UID != 1000 || e.Profile != "work" || e.TokenID != "00112233aabbccdd" || e.Status != 200 || !e.Time.Equal(l.clk.Now()) {
		t.Fatalf("first line %+v", e)
	}
	// More requests, on this connection and on a second one of the same
	// process: counted, not written while the process keeps asking.
	for range 10 {
		l.clk.Advance(time.Second)
		c1.Fetch(l.now(), "work", "00112233aabbccdd", 200, "")
		l.pass(false)
	}
	c2, _ := l.conn(40001)
	c2.Fetch(l.now(), "work", "00112233aabbccdd", 200, "")
	last := l.clk.Now()
	l.pass(false)
	if n := len(entries(t, l.out.String())); n != 1 {
		t.Fatalf("%d lines while the process asks:\n%s", n, l.out)
	}
	// Quiet: the count is written.
	l.clk.Advance(Quiet)
	l.pass(false)
	es = entries(t, l.out.String())
	if len(es) != 2 || es[1].Event != Fetches || es[1].Count != 11 || es[1].PID != 777 || !es[1].Time.Equal(last) || !es[1].Since.Equal(e.Time) {
		t.Fatalf("count line: %+v", es)
	}
	// A closed connection's requests are counted; a 403 is a key of its own.
	c1.Fetch(l.now(), "work", "00112233aabbccdd", 200, "")
	c1.Fetch(l.now(), "admin", "00112233aabbccdd", 403, "token_for_another_profile")
	l.connClosed(nc1)
	l.Close()
	l.pass(true)
	got := totals(entries(t, l.out.String()))
	want := map[string]int64{"777 work 200 ": 13, "777 admin 403 token_for_another_profile": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals %v, want %v:\n%s", got, want, l.out)
	}
}

// TestSustainedLoadWritesLittle counts 20,000 requests a second from one
// client for ten minutes: the log grows by well under 1 KB a minute and
// names the client.
func TestSustainedLoadWritesLittle(t *testing.T) {
	l := newTestLog(t)
	l.find.add(4321, 1, "/usr/lib/jvm/java-21-openjdk-amd64/bin/java", 50000)
	c, _ := l.conn(50000)
	const perSecond, minutes = 20000, 10
	for range minutes * 60 {
		for range perSecond {
			c.Fetch(l.now(), "work", "00112233aabbccdd", 200, "")
		}
		l.clk.Advance(time.Second)
		l.pass(false)
	}
	size := len(l.out.String())
	if perMinute := size / minutes; perMinute >= 1024 {
		t.Errorf("%d bytes a minute:\n%s", perMinute, l.out)
	}
	es := entries(t, l.out.String())
	for _, e := range es {
		if e.PID != 4321 || e.Exe != "/usr/lib/jvm/java-21-openjdk-amd64/bin/java" {
			t.Errorf("line does not name the client: %+v", e)
		}
	}
	l.pass(true)
	if got := totals(entries(t, l.out.String()))["4321 work 200 "]; got != perSecond*minutes*60 {
		t.Errorf("%d requests counted, want %d", got, perSecond*minutes*60)
	}
	t.Logf("%d bytes in %d lines for %d minutes", size, len(es), minutes)
}

// TestRefusalLookupsLimited opens a connection per refused request: the
// processes of the first RefusalLookups are looked up, the rest counted
// under an unknown process, none lost.
func TestRefusalLookupsLimited(t *testing.T) {
	l := newTestLog(t)
	const n = 3 * RefusalLookups
	for i := range n {
		c, nc := l.conn(uint16(30000 + i))
		l.find.add(1000+i, 1, "/tmp/guesser", uint16(30000+i))
		c.Refuse(l.now(), "work", "", 403, "no_token")
		l.pass(false)
		l.connClosed(nc)
	}
	l.pass(true)
	if l.find.lookups != RefusalLookups {
		t.Errorf("%d lookups, want %d", l.find.lookups, RefusalLookups)
	}
	var named, unnamed int64
	for _, e := range entries(t, l.out.String()) {
		c := max(e.Count, 1)
		switch {
		case e.PID != 0 && e.Exe == "/tmp/guesser":
			named += c
		case e.PID == 0 && e.Note == refusalNote:
			unnamed += c
		default:
			t.Errorf("line %+v", e)
		}
	}
	if named != RefusalLookups || unnamed != n-RefusalLookups {
		t.Errorf("%d named, %d unnamed", named, unnamed)
	}
	// A new window: lookups again.
	l.clk.Advance(RefusalWindow)
	c, _ := l.conn(30000)
	c.Refuse(l.now(), "work", "", 403, "no_token")
	l.pass(false)
	if l.find.lookups != RefusalLookups+1 {
		t.Errorf("%d lookups after the window, want %d", l.find.lookups, RefusalLookups+1)
	}
}

func TestRecordAndDrops(t *testing.T) {
	l := newTestLog(t)
	l.find.add(42, 41, "/usr/bin/mfad")
	l.find.add(41, 1, "/usr/bin/aws")
	const n = 2 * queueSize
	for range n {
		l.Record(Entry{Event: TokenIssued, Via: ViaControl, TokenID: "00112233aabbccdd", PID: 42})
	}
	l.pass(false)
	var lines, dropped int64
	for _, e := range entries(t, l.out.String()) {
		switch e.Event {
		case TokenIssued:
			lines++
			if e.Exe != "/usr/bin/mfad" || e.ParentExe != "/usr/bin/aws" || e.PPID != 41 {
				t.Fatalf("entry %+v", e)
			}
		case Dropped:
			dropped += e.Count
		}
	}
	if lines != queueSize || dropped != n-queueSize {
		t.Fatalf("%d lines + %d dropped, want %d + %d", lines, dropped, queueSize, n-queueSize)
	}
}

// TestWriterGoroutine runs the real writer: the first request is written
// at once, the count once the clock passes Quiet, everything at Close.
func TestWriterGoroutine(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	find := newFakeFinder()
	find.add(777, 1, "/usr/bin/python3", 40000)
	out := &testenv.SafeBuffer{}
	a := newLog(out, clk, nil, find)
	nc := fakeConn{client: netip.MustParseAddrPort("127.0.0.1:40000")}
	c := ConnFrom(a.ConnContext(context.Background(), nc))
	c.Fetch(clk.Now().UnixNano(), "work", "", 200, "")
	testenv.WaitFor(t, "the first line", func() bool { return strings.Contains(out.String(), `"pid":777`) })
	for range 5 {
		c.Fetch(clk.Now().UnixNano(), "work", "", 200, "")
	}
	// The writer sleeps or ticks; either way, once the clock passes Quiet
	// the count is written.
	testenv.WaitFor(t, "the count", func() bool {
		clk.Advance(Tick)
		return strings.Contains(out.String(), `"count":5`)
	})
	c.Fetch(clk.Now().UnixNano(), "work", "", 200, "")
	a.Close()
	if got := totals(entries(t, out.String()))["777 work 200 "]; got != 7 {
		t.Fatalf("%d requests, want 7:\n%s", got, out)
	}
	c.Fetch(clk.Now().UnixNano(), "work", "", 200, "") // after Close: no panic
	a.Record(Entry{Event: TokenIssued})
}
