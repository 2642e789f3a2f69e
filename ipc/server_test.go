package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type payload struct {
	Name string `json:"name"`
	Code string `json:"code"`
	N    int    `json:"n"`
}

func TestRoundTrip(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)

	in := payload{Name: "prod", Code: "493817", N: 7}
	var out payload
	if err := c.invoke(t.Context(), "echo", in, &out); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if out != in {
		t.Fatalf("echo = %+v, want %+v", out, in)
	}

	var p Peer
	if err := c.invoke(t.Context(), "peer", nil, &p); err != nil {
		t.Fatalf("Call peer: %v", err)
	}
	if p.UID != os.Getuid() || p.GID != os.Getgid() || p.PID != os.Getpid() {
		t.Errorf("peer = %+v, want uid %d gid %d pid %d", p, os.Getuid(), os.Getgid(), os.Getpid())
	}

	// A handler's error comes back as *Error and leaves the connection usable.
	err := c.invoke(t.Context(), "fail", nil, nil)
	if e := wantCode(t, err, "nope"); e.Message != "it failed" {
		t.Errorf("message = %q", e.Message)
	}
	if !errors.Is(err, Code("nope")) || errors.Is(err, CodeLocked) {
		t.Errorf("errors.Is does not match the code of %v", err)
	}
	if err := c.invoke(t.Context(), "echo", in, nil); err != nil {
		t.Fatalf("Call after handler error: %v", err)
	}
	// A nil response is an empty success.
	if err := c.invoke(t.Context(), "sleep", 0, &out); err != nil {
		t.Fatalf("Call with nil response: %v", err)
	}

	if strings.Contains(ts.logs.String(), in.Code) {
		t.Errorf("the daemon logged a request payload:\n%s", ts.logs.String())
	}
}

func TestManySequentialCallsOnOneConn(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)
	for i := range 500 {
		var out int
		if err := c.invoke(t.Context(), "echo", i, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if out != i {
			t.Fatalf("call %d returned %d", i, out)
		}
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	ts := startServer(t, &Server{})
	nc := rawDial(t, ts.path)
	var frames []byte
	for i := 1; i <= 5; i++ {
		b, _ := json.Marshal(Request{V: ProtocolVersion, ID: uint64(i), Op: "echo", Body: json.RawMessage(fmt.Sprint(i * 10))})
		frames = append(frames, rawFrame(b)...)
	}
	mustWrite(t, nc, frames)
	for i := 1; i <= 5; i++ {
		resp := readResponse(t, nc)
		if resp.ID != uint64(i) || resp.V != ProtocolVersion || string(resp.Body) != fmt.Sprint(i*10) || resp.Error != nil {
			t.Fatalf("response %d = %+v", i, resp)
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	ts := startServer(t, &Server{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 16 {
		wg.Go(func() {
			c, err := Dial(t.Context(), ts.path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range 25 {
				in := fmt.Sprintf("client %d call %d", g, i)
				var out string
				if err := c.invoke(t.Context(), "echo", in, &out); err != nil {
					errs <- err
					return
				}
				if out != in {
					errs <- fmt.Errorf("got %q, want %q", out, in)
					return
				}
			}
		})
	}
	// Concurrent calls sharing one Client are serialised.
	shared := dial(t, ts.path)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				var out int
				if err := shared.invoke(t.Context(), "echo", g*1000+i, &out); err != nil {
					errs <- err
					return
				}
				if out != g*1000+i {
					errs <- fmt.Errorf("shared client got %d, want %d", out, g*1000+i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVersionMismatch(t *testing.T) {
	ts := startServer(t, &Server{})
	nc := rawDial(t, ts.path)
	b, _ := json.Marshal(Request{V: ProtocolVersion + 1, ID: 9, Op: "echo", Body: json.RawMessage(`1`)})
	mustWrite(t, nc, rawFrame(b))
	resp := readResponse(t, nc)
	if resp.ID != 9 || resp.V != ProtocolVersion || resp.Error == nil || resp.Error.Code != CodeVersion {
		t.Fatalf("response = %+v, want a version error for id 9", resp)
	}
	want := fmt.Sprintf("the mfad CLI (protocol %d) and the daemon (protocol %d) differ: restart the daemon (`mfad daemon`) after upgrading", ProtocolVersion+1, ProtocolVersion)
	if resp.Error.Message != want {
		t.Errorf("message = %q, want %q", resp.Error.Message, want)
	}
	// The framing does not depend on the version, so the connection stays
	// usable.
	b, _ = json.Marshal(Request{V: ProtocolVersion, ID: 10, Op: "echo", Body: json.RawMessage(`2`)})
	mustWrite(t, nc, rawFrame(b))
	if resp := readResponse(t, nc); resp.ID != 10 || resp.Error != nil || string(resp.Body) != "2" {
		t.Fatalf("response after version error = %+v", resp)
	}
}

func TestOversizedFrameRejected(t *testing.T) {
	ts := startServer(t, &Server{})
	nc := rawDial(t, ts.path)
	// Announce one byte more than allowed and send none of the body: the
	// daemon must answer from the header alone.
	mustWrite(t, nc, []byte{0x00, 0x10, 0x00, 0x01})
	resp := readResponse(t, nc)
	if resp.ID != 0 || resp.Error == nil || resp.Error.Code != CodeTooLarge {
		t.Fatalf("response = %+v, want a too_large error", resp)
	}
	expectClosed(t, nc)

	// The client refuses to send one, and stays usable.
	c := dial(t, ts.path)
	big := strings.Repeat("x", MaxMessageSize)
	if err := c.invoke(t.Context(), "echo", big, nil); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("Call with oversized request = %v, want a size error", err)
	}
	if err := c.invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatalf("Call after refused oversized request: %v", err)
	}
	// An oversized response becomes an internal error.
	wantCode(t, c.invoke(t.Context(), "huge", nil, nil), CodeInternal)
	if err := c.invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatalf("Call after oversized response: %v", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	ts := startServer(t, &Server{})
	for _, body := range []string{`{not json`, `null`, `[1,2]`, `{"v":1,"id":1,"op":"echo"} trailing`, `{"v":"one"}`} {
		t.Run(body, func(t *testing.T) {
			nc := rawDial(t, ts.path)
			mustWrite(t, nc, rawFrame([]byte(body)))
			resp := readResponse(t, nc)
			if resp.ID != 0 || resp.Error == nil || resp.Error.Code != CodeMalformed {
				t.Fatalf("response = %+v, want a malformed error", resp)
			}
			expectClosed(t, nc)
		})
	}
	t.Run("empty frame", func(t *testing.T) {
		nc := rawDial(t, ts.path)
		mustWrite(t, nc, []byte{0, 0, 0, 0})
		if resp := readResponse(t, nc); resp.Error == nil || resp.Error.Code != CodeMalformed {
			t.Fatalf("response = %+v, want a malformed error", resp)
		}
		expectClosed(t, nc)
	})
	t.Run("no op", func(t *testing.T) {
		nc := rawDial(t, ts.path)
		mustWrite(t, nc, rawFrame([]byte(`{"v":1,"id":3}`)))
		if resp := readResponse(t, nc); resp.ID != 3 || resp.Error == nil || resp.Error.Code != CodeMalformed {
			t.Fatalf("response = %+v, want a malformed error for id 3", resp)
		}
	})
}

func TestConnContextCancelledOnClientClose(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)
	if err := c.invoke(t.Context(), "hold", nil, nil); err != nil {
		t.Fatal(err)
	}
	conn := <-ts.h.conns
	select {
	case <-conn.Context().Done():
		t.Fatal("connection context cancelled while the client is still connected")
	default:
	}
	c.Close()
	select {
	case <-conn.Context().Done():
	case <-time.After(waitLimit):
		t.Fatalf("connection context not cancelled within %s of the client closing", waitLimit)
	}
}

func TestBlockedHandlerSeesClientCancel(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)
	ctx, cancel := context.WithCancel(t.Context())
	callErr := make(chan error, 1)
	go func() { callErr <- c.invoke(ctx, "block", nil, nil) }()
	select {
	case <-ts.h.started:
	case <-time.After(waitLimit):
		t.Fatal("handler did not start")
	}
	cancel()
	select {
	case err := <-callErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Call = %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Call did not return after its context was cancelled")
	}
	select {
	case <-ts.h.done:
	case <-time.After(waitLimit):
		t.Fatal("handler did not see the client go away")
	}
	// The client is unusable afterwards.
	if err := c.invoke(t.Context(), "echo", 1, nil); err == nil {
		t.Fatal("Call on a client whose call was cancelled succeeded")
	}
}

func TestServerStopCancelsConnections(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)
	callErr := make(chan error, 1)
	go func() { callErr <- c.invoke(t.Context(), "block", nil, nil) }()
	<-ts.h.started
	ts.stop(t)
	select {
	case <-ts.h.done:
	case <-time.After(waitLimit):
		t.Fatal("handler did not see the server stop")
	}
	select {
	case err := <-callErr:
		// The handler's answer may or may not make it out before the
		// connection closes; either way the call ends.
		t.Logf("Call after server stop: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("Call did not return after the server stopped")
	}
	if _, err := os.Stat(ts.path); !os.IsNotExist(err) {
		t.Errorf("socket file still present after Serve returned: %v", err)
	}
}

func TestHandlerPanicRecovered(t *testing.T) {
	ts := startServer(t, &Server{})
	c := dial(t, ts.path)
	wantCode(t, c.invoke(t.Context(), "panic", map[string]string{"code": "112233"}, nil), CodeInternal)
	logs := ts.logs.String()
	if !strings.Contains(logs, "panicked") || !strings.Contains(logs, "handler exploded") {
		t.Errorf("panic not logged:\n%s", logs)
	}
	if strings.Contains(logs, "112233") {
		t.Errorf("the daemon logged a request payload:\n%s", logs)
	}
	// That connection is closed; the server goes on.
	if err := c.invoke(t.Context(), "echo", 1, nil); err == nil {
		t.Error("Call on the connection of a panicked handler succeeded")
	}
	c2 := dial(t, ts.path)
	if err := c2.invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatalf("server unusable after a handler panic: %v", err)
	}
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, &Server{MaxConns: 2})
	a, b := dial(t, ts.path), dial(t, ts.path)
	for _, c := range []*Client{a, b} {
		if err := c.invoke(t.Context(), "echo", 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	over := dial(t, ts.path)
	e := wantCode(t, over.invoke(t.Context(), "echo", 1, nil), CodeBusy)
	if !strings.Contains(e.Message, "2 connections") {
		t.Errorf("busy message = %q", e.Message)
	}
	if err := over.invoke(t.Context(), "echo", 1, nil); err == nil {
		t.Error("a refused client could call again")
	}

	// Closing one frees its slot (once the daemon has noticed).
	a.Close()
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := Dial(t.Context(), ts.path)
		if err != nil {
			t.Fatal(err)
		}
		err = c.invoke(t.Context(), "echo", 1, nil)
		c.Close()
		if err == nil {
			break
		}
		wantCode(t, err, CodeBusy)
		if time.Now().After(deadline) {
			t.Fatal("slot not released after a client closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMidFrameStallDisconnected(t *testing.T) {
	ts := startServer(t, &Server{FrameTimeout: 100 * time.Millisecond})
	nc := rawDial(t, ts.path)
	mustWrite(t, nc, []byte{0, 0}) // half a header, then nothing
	resp := readResponse(t, nc)
	if resp.Error == nil || resp.Error.Code != CodeTimeout {
		t.Fatalf("response = %+v, want a timeout error", resp)
	}
	expectClosed(t, nc)

	// Same for a body that stops short.
	nc = rawDial(t, ts.path)
	mustWrite(t, nc, rawFrame([]byte(`{"v":1,"id":1,"op":"echo"}`))[:10])
	if resp := readResponse(t, nc); resp.Error == nil || resp.Error.Code != CodeTimeout {
		t.Fatalf("response = %+v, want a timeout error", resp)
	}
	expectClosed(t, nc)
}

func TestIdleConnectionStaysOpen(t *testing.T) {
	ts := startServer(t, &Server{FrameTimeout: 50 * time.Millisecond})
	c := dial(t, ts.path)
	if err := c.invoke(t.Context(), "hold", nil, nil); err != nil {
		t.Fatal(err)
	}
	conn := <-ts.h.conns
	// Idle for several frame timeouts: not a stall.
	select {
	case <-conn.Context().Done():
		t.Fatalf("idle connection closed: %v", context.Cause(conn.Context()))
	case <-time.After(300 * time.Millisecond):
	}
	if err := c.invoke(t.Context(), "echo", 1, nil); err != nil {
		t.Fatalf("Call after idling: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	ts := startServer(t, &Server{IdleTimeout: idle})
	c := dial(t, ts.path)

	// A request that takes longer than the idle timeout is not idleness.
	if err := c.invoke(t.Context(), "sleep", 3*idle, nil); err != nil {
		t.Fatalf("long call under IdleTimeout: %v", err)
	}
	if err := c.invoke(t.Context(), "hold", nil, nil); err != nil {
		t.Fatalf("call right after a long one: %v", err)
	}
	conn := <-ts.h.conns
	select {
	case <-conn.Context().Done():
	case <-time.After(waitLimit):
		t.Fatal("idle connection not closed after IdleTimeout")
	}
	if err := c.invoke(t.Context(), "echo", 1, nil); err == nil {
		t.Fatal("Call on a connection closed for idleness succeeded")
	}
}

func TestForbiddenPeer(t *testing.T) {
	// Pretend the daemon belongs to someone else, so that this process is
	// the foreign peer.
	ts := startServer(t, &Server{ownerUID: func() int { return os.Getuid() + 4242 }})
	calls := make(chan string, 1)
	ts.h.calls = calls
	c := dial(t, ts.path)
	e := wantCode(t, c.invoke(t.Context(), "echo", payload{Code: "777111"}, nil), CodeForbidden)
	if !strings.Contains(e.Message, "mfad daemon") {
		t.Errorf("forbidden message = %q", e.Message)
	}
	select {
	case op := <-calls:
		t.Fatalf("handler ran (%q) for a forbidden peer", op)
	default:
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, fmt.Sprintf("peer_uid=%d", os.Getuid())) || !strings.Contains(logs, fmt.Sprintf("peer_pid=%d", os.Getpid())) {
		t.Errorf("refusal not logged at warn with the peer's uid and pid:\n%s", logs)
	}
	if strings.Contains(logs, "777111") {
		t.Errorf("the daemon logged a request payload:\n%s", logs)
	}
}

func TestServeRequiresHandler(t *testing.T) {
	ln, err := Listen(SocketPath(shortDir(t)))
	if err != nil {
		t.Fatal(err)
	}
	var s Server
	if err := s.Serve(t.Context(), ln); err == nil {
		t.Fatal("Serve without a Handler succeeded")
	}
}

func TestServeReturnsErrorWhenListenerFails(t *testing.T) {
	ln, err := Listen(SocketPath(shortDir(t)))
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	s := &Server{Handler: newTestHandler()}
	if err := s.Serve(t.Context(), ln); err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed listener = %v, want an error wrapping net.ErrClosed", err)
	}
}

func TestServeListenerFailureStopsConnections(t *testing.T) {
	path := SocketPath(shortDir(t))
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler()
	done := make(chan error, 1)
	go func() { done <- (&Server{Handler: h}).Serve(t.Context(), ln) }()
	c := dial(t, path)
	if err := c.invoke(t.Context(), "hold", nil, nil); err != nil {
		t.Fatal(err)
	}
	conn := <-h.conns
	ln.Close() // the listener fails while a client is still connected
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want an error wrapping net.ErrClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return after its listener failed")
	}
	select {
	case <-conn.Context().Done():
	default:
		t.Fatal("connection context still live after Serve returned")
	}
}
