package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait for something that should happen promptly.
const waitLimit = 5 * time.Second

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// shortDir returns a fresh private directory with a short path, since
// socket paths are limited to about 100 bytes.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mfad-ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// testHandler implements the operations the tests use.
type testHandler struct {
	conns   chan Conn     // "hold": the Conn is sent here
	started chan struct{} // "block": signalled when the handler starts
	done    chan error    // "block": the handler's view of its context
	calls   chan string   // every op, if not nil
}

func newTestHandler() *testHandler {
	return &testHandler{
		conns:   make(chan Conn, 16),
		started: make(chan struct{}, 16),
		done:    make(chan error, 16),
	}
}

func (h *testHandler) ServeIPC(c Conn, req *Request) *Response {
	if h.calls != nil {
		h.calls <- req.Op
	}
	switch req.Op {
	case "echo":
		return &Response{Body: req.Body}
	case "peer":
		b, _ := json.Marshal(c.Peer())
		return &Response{Body: b}
	case "hold":
		h.conns <- c
		return nil
	case "block":
		h.started <- struct{}{}
		<-c.Context().Done()
		h.done <- context.Cause(c.Context())
		return &Response{Error: &Error{Code: "cancelled", Message: "cancelled"}}
	case "sleep":
		var d time.Duration
		json.Unmarshal(req.Body, &d)
		select {
		case <-time.After(d):
		case <-c.Context().Done():
		}
		return nil
	case "panic":
		panic("handler exploded")
	case "huge":
		return &Response{Body: json.RawMessage(`"` + string(bytes.Repeat([]byte("x"), MaxMessageSize)) + `"`)}
	case "fail":
		return &Response{Error: &Error{Code: "nope", Message: "it failed"}}
	}
	return &Response{Error: &Error{Code: "unknown_op", Message: "unknown op " + req.Op}}
}

// testServer is a running Server on a fresh socket.
type testServer struct {
	path   string
	h      *testHandler
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer serves s (with a testHandler if it has no Handler) until the
// test ends.
func startServer(t *testing.T, s *Server) *testServer {
	t.Helper()
	dir := shortDir(t)
	path := SocketPath(dir)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return serveOn(t, s, ln, path)
}

func serveOn(t *testing.T, s *Server, ln net.Listener, path string) *testServer {
	t.Helper()
	ts := &testServer{path: path, logs: &syncBuffer{}, done: make(chan error, 1)}
	if s.Handler == nil {
		ts.h = newTestHandler()
		s.Handler = ts.h
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop stops the server and checks that Serve returned nil.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(waitLimit):
		t.Errorf("Serve did not return within %s of its context ending", waitLimit)
	}
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawDial opens a plain connection for tests that speak the wire format
// directly.
func rawDial(t *testing.T, path string) net.Conn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitLimit))
	return nc
}

func rawFrame(body []byte) []byte {
	f := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(f, uint32(len(body)))
	copy(f[4:], body)
	return f
}

func mustWrite(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readResponse(t *testing.T, r io.Reader) *Response {
	t.Helper()
	resp, err := DecodeResponse(r)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp
}

// expectClosed asserts that the peer closes the connection.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(waitLimit))
	var b [1]byte
	n, err := nc.Read(b[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after error response = %d, %v; want the daemon to close the connection", n, err)
	}
}

func wantCode(t *testing.T, err error, code Code) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error with code %q", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %q (%s), want %q", e.Code, e.Message, code)
	}
	return e
}
