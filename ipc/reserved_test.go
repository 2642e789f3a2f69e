package ipc

import (
	"strings"
	"testing"
	"time"
)

// TestReservedSlots: with every slot taken, a connection still gets
// through for a priority operation, in one of the reserved slots; another
// operation there is refused and closes it; and a reserved connection that
// idles is closed.
func TestReservedSlots(t *testing.T) {
	const idle = 150 * time.Millisecond
	ts := startServer(t, &Server{MaxConns: 2, Reserved: 1, ReservedIdleTimeout: idle,
		Priority: func(op string) bool { return op == "echo" }})
	// Two long-lived clients take every ordinary slot, as `mfad exec` does.
	for range 2 {
		c := dial(t, ts.path)
		if err := c.invoke(t.Context(), "peer", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A priority operation gets through, several times on its connection.
	prio := dial(t, ts.path)
	for i := range 3 {
		var out int
		if err := prio.invoke(t.Context(), "echo", i, &out); err != nil || out != i {
			t.Fatalf("priority call %d in a reserved slot: %d, %v", i, out, err)
		}
	}
	// The reserved slot is taken: a third connection is refused outright.
	over := dial(t, ts.path)
	wantCode(t, over.invoke(t.Context(), "echo", 1, nil), CodeBusy)
	// Another operation in a reserved slot is refused, and the connection
	// closed.
	e := wantCode(t, prio.invoke(t.Context(), "peer", nil, nil), CodeBusy)
	if !strings.Contains(e.Message, "status, lock and token revocation") {
		t.Errorf("busy message = %q", e.Message)
	}
	if err := prio.invoke(t.Context(), "echo", 1, nil); err == nil {
		t.Fatal("a connection refused in a reserved slot could call again")
	}
	// Its slot is free again; a new reserved connection that idles is
	// closed.
	deadline := time.Now().Add(waitLimit)
	for {
		nc := rawDial(t, ts.path)
		mustWrite(t, nc, rawFrame([]byte(`{"v":1,"id":1,"op":"echo","body":1}`)))
		resp := readResponse(t, nc)
		if resp.Error == nil {
			expectClosed(t, nc)
			return
		}
		if resp.Error.Code != CodeBusy {
			t.Fatalf("echo: %v", resp.Error)
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the reserved slot was not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
