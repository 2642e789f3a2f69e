package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/testenv"
)

// fakePeers is a peerListener whose clients say their uid: each connects
// and writes its uid as one line, which uidOf reads back.
type fakePeers struct {
	t        *testing.T
	ln       *peerListener
	clk      *clock.Fake
	logs     *testenv.SafeBuffer
	accepted chan net.Conn
}

const testOwner = 1000

func newFakePeers(t *testing.T) *fakePeers {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeers{t: t, clk: clock.NewFake(time.Unix(1_700_000_000, 0)), logs: &testenv.SafeBuffer{}, accepted: make(chan net.Conn, 1024)}
	f.ln = newPeerListener(inner, testOwner, f.clk, slog.New(slog.NewTextHandler(f.logs, nil)))
	f.ln.uidOf = func(c net.Conn) (int, bool) {
		b := make([]byte, 8)
		n, err := io.ReadAtLeast(c, b, 8)
		if err != nil {
			return 0, false
		}
		uid, _ := strconv.Atoi(string(b[:n]))
		return uid, true
	}
	t.Cleanup(func() { f.ln.Close() })
	go func() {
		for {
			c, err := f.ln.Accept()
			if err != nil {
				close(f.accepted)
				return
			}
			f.accepted <- c
		}
	}()
	return f
}

// turnedAway counts the connections the listener held or reset.
func (f *fakePeers) turnedAway() int64 {
	f.ln.mu.Lock()
	defer f.ln.mu.Unlock()
	return f.ln.turnedAway
}

// held counts the connections held unread.
func (f *fakePeers) held() int {
	f.ln.mu.Lock()
	defer f.ln.mu.Unlock()
	return len(f.ln.heldAll)
}

// dial connects as uid and returns the server's side of the connection
// when the listener handed it over, or nil when it turned it away.
func (f *fakePeers) dial(uid int) (client net.Conn, server net.Conn) {
	f.t.Helper()
	before := f.turnedAway()
	c, err := net.Dial("tcp4", f.ln.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, strconv.Itoa(100_000_000 + uid)[1:]); err != nil {
		f.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case s := <-f.accepted:
			return c, s
		default:
		}
		if f.turnedAway() > before {
			return c, nil
		}
	}
	f.t.Fatalf("uid %d: connection neither handed over nor turned away", uid)
	return nil, nil
}

// closedByServer reports whether the server has closed c.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestPeerListenerShares(t *testing.T) {
	f := newFakePeers(t)
	const other = 2000
	// Another uid: maxPeerUnproven connections that have sent no valid
	// request, then no more.
	var held []*peerConn
	for range maxPeerUnproven {
		_, s := f.dial(other)
		if s == nil {
			t.Fatal("another uid's first connections refused")
		}
		held = append(held, s.(*peerConn))
	}
	if _, s := f.dial(other); s != nil {
		t.Fatal("another uid got more unanswered connections than its share")
	}
	// The owner is not held back by it.
	for range 20 {
		if _, s := f.dial(testOwner); s == nil {
			t.Fatal("the owner's connection refused while another uid is at its share")
		}
	}
	// Served connections leave room for new ones, up to maxPeerConns.
	for _, c := range held {
		c.served()
	}
	for i := maxPeerUnproven; i < maxPeerConns; i++ {
		_, s := f.dial(other)
		if s == nil {
			t.Fatalf("connection %d of another uid refused below its share", i+1)
		}
		s.(*peerConn).served()
	}
	if _, s := f.dial(other); s != nil {
		t.Fatal("another uid got more connections than its share")
	}
	// Closing one gives its share back, once.
	f.clk.Advance(2 * firstRequestTimeout) // let go of the held ones
	held[0].Close()
	held[0].Close()
	_, s := f.dial(other)
	if s == nil {
		t.Fatal("a closed connection's share was not given back")
	}
	if _, s := f.dial(other); s != nil {
		t.Fatal("closing twice gave the share back twice")
	}
	if !containsAll(f.logs.String(), "level=WARN", "peer_uid=2000") {
		t.Errorf("turned away connections not logged with the peer's uid:\n%s", f.logs)
	}
}

// TestPeerListenerHoldsThenResets: a connection turned away is held unread
// for firstRequestTimeout, then reset; beyond what may be held, it is reset
// at once.
func TestPeerListenerHoldsThenResets(t *testing.T) {
	f := newFakePeers(t)
	f.ln.maxHeld = 3
	const other = 2000
	for range maxPeerUnproven {
		if _, s := f.dial(other); s == nil {
			t.Fatal("refused within the share")
		}
	}
	var held []net.Conn
	for range 3 {
		c, s := f.dial(other)
		if s != nil {
			t.Fatal("handed over beyond the share")
		}
		held = append(held, c)
	}
	if f.held() != 3 {
		t.Fatalf("%d connections held, want 3", f.held())
	}
	c, _ := f.dial(other)
	if !closedByServer(c) {
		t.Fatal("a connection beyond what may be held was not reset")
	}
	f.clk.Advance(firstRequestTimeout - time.Millisecond)
	if f.held() != 3 {
		t.Fatalf("%d connections held before their time, want 3", f.held())
	}
	f.clk.Advance(firstRequestTimeout + time.Millisecond)
	for i, c := range held {
		if !closedByServer(c) {
			t.Fatalf("held connection %d not reset after %v", i, 2*firstRequestTimeout)
		}
	}
	if f.held() != 0 {
		t.Fatalf("%d connections still held", f.held())
	}
	// Closing the listener resets what it holds.
	c, _ = f.dial(other)
	f.ln.Close()
	if !closedByServer(c) {
		t.Fatal("closing the listener left a held connection open")
	}
}

func TestPeerListenerRefusalBudget(t *testing.T) {
	f := newFakePeers(t)
	const other = 2000
	// Spend the budget: each refused request is charged to the peer.
	for range peerRefusalBurst {
		_, s := f.dial(other)
		if s == nil {
			t.Fatal("refused before the budget was spent")
		}
		s.(*peerConn).refused()
		s.Close()
	}
	if _, s := f.dial(other); s != nil {
		t.Fatal("a peer with no refusal budget left got a connection")
	}
	// Another uid's budget is its own, and the owner has none to spend.
	if _, s := f.dial(3000); s == nil {
		t.Fatal("a third uid paid for another's refusals")
	}
	for range 2 * peerRefusalBurst {
		_, s := f.dial(testOwner)
		if s == nil {
			t.Fatal("the owner's connection refused")
		}
		s.(*peerConn).refused()
		s.Close()
	}
	// The budget refills with time.
	f.clk.Advance(peerRefusalEvery)
	if _, s := f.dial(other); s == nil {
		t.Fatal("the budget did not refill")
	}
}

// TestPeerListenerOwnerWaits: when the owner's share is full, its next
// connection waits for one to close, and Close wakes a waiting Accept.
func TestPeerListenerOwnerWaits(t *testing.T) {
	f := newFakePeers(t)
	var servers []net.Conn
	var mu sync.Mutex
	for range maxOwnerConns {
		_, s := f.dial(testOwner)
		if s == nil {
			t.Fatal("owner's connection refused")
		}
		mu.Lock()
		servers = append(servers, s)
		mu.Unlock()
	}
	c, err := net.Dial("tcp4", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, strconv.Itoa(100_000_000 + testOwner)[1:])
	select {
	case <-f.accepted:
		t.Fatal("accepted beyond the owner's share")
	case <-time.After(100 * time.Millisecond):
	}
	servers[0].Close()
	select {
	case <-f.accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted once a slot was free")
	}
	f.ln.Close()
	testenv.WaitFor(t, "Accept to return", func() bool {
		select {
		case _, ok := <-f.accepted:
			return !ok
		default:
			return false
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
