package daemon

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
)

// TestIdleConnsBounded opens keep-alive connections that each make one
// request and stay open: those beyond maxIdleConns are closed once idle,
// the others kept; the burst's end releases memory.
func TestIdleConnsBounded(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	var released atomic.Int64
	w := watchIdle(srv, func() { released.Add(1) })
	w.grace, w.quiet = 10*time.Millisecond, 10*time.Millisecond
	go srv.Serve(ln)
	defer srv.Close()
	defer w.stop()
	const n = 3 * maxIdleConns
	var clients []*http.Client
	for range n {
		c := &http.Client{Transport: &http.Transport{}}
		clients = append(clients, c)
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	open := func() int { return int(w.open.Load()) }
	testenv.WaitFor(t, "idle connections beyond the bound to close", func() bool { return open() == maxIdleConns })
	testenv.WaitFor(t, "the memory release after the burst", func() bool { return released.Load() > 0 })
	// The kept ones still serve.
	for _, c := range clients {
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.CloseIdleConnections()
	}
	testenv.WaitFor(t, "every connection to close", func() bool { return open() == 0 })
}
