package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"
)

// rejectReadTimeout bounds how long a client whose request could not be
// sent waits for the daemon's explanation (which, if any, has already
// arrived).
const rejectReadTimeout = 500 * time.Millisecond

// Client is a connection to the daemon. Calls on one Client are answered in
// the order they are made; concurrent calls wait for each other.
type Client struct {
	nc   net.Conn
	path string

	// sem admits one call at a time and guards nextID and broken.
	sem    chan struct{}
	nextID uint64
	// broken, once set, is returned by every later call: the connection
	// is in an unknown state or gone.
	broken error

	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the daemon listening on path. When nothing listens
// there, the error wraps ErrNoDaemon and says how to start the daemon.
//
// Dial also checks who is listening: a socket served by a process of
// another user (other than root) is refused, so that requests, which may
// carry MFA codes, are never handed to someone else's process.
func Dial(ctx context.Context, path string) (*Client, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, fs.ErrNotExist) || isConnRefused(err):
			return nil, fmt.Errorf("%w (socket %s): start it with `mfad daemon` (or `mfad service install`)", ErrNoDaemon, path)
		case isPermission(err):
			return nil, fmt.Errorf("connecting to the mfad daemon at %s: %w: the socket belongs to another user; check XDG_RUNTIME_DIR, or start your own daemon with `mfad daemon`", path, err)
		default:
			return nil, fmt.Errorf("connecting to the mfad daemon at %s: %w", path, err)
		}
	}
	peer, err := connPeer(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connecting to the mfad daemon at %s: %w", path, err)
	}
	if me := os.Getuid(); peer.UID != me && peer.UID != 0 {
		nc.Close()
		return nil, fmt.Errorf("the process listening on %s (pid %d) runs as uid %d, not as you (uid %d): refusing to talk to it; remove that socket and start your own daemon with `mfad daemon`", path, peer.PID, peer.UID, me)
	}
	return &Client{nc: nc, path: path, sem: make(chan struct{}, 1)}, nil
}

// invoke sends op with in (JSON-encoded; nil for no arguments) and
// decodes the daemon's result into out (ignored when nil). The Control
// methods of Client call it.
//
// An error reported by the daemon is returned as an *Error (errors.Is
// matches its Code). If ctx ends before the answer arrives, the connection
// is closed, since its state is then unknown, and ctx.Err() is returned;
// every later call fails, and the caller should Dial again.
func (c *Client) invoke(ctx context.Context, op string, in any, out any) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.broken != nil {
		return c.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	req := &Request{V: ProtocolVersion, Op: op}
	if in != nil {
		body, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the arguments of mfad %q request: %w", op, err)
		}
		req.Body = body
	}
	req.ID = c.nextID + 1
	frame, err := encodeFrame(req)
	if err != nil {
		return fmt.Errorf("mfad %q request: %w", op, err)
	}
	c.nextID++

	resp, err := c.roundTrip(ctx, req, frame)
	if err != nil {
		return err
	}
	if resp.ID == 0 && resp.Error != nil {
		// A connection-level refusal: the daemon has closed the connection.
		c.broken = resp.Error
		return resp.Error
	}
	if resp.ID != req.ID {
		c.fail(fmt.Errorf("the mfad daemon answered request %d with the response to request %d: restart the daemon (`mfad daemon`)", req.ID, resp.ID))
		return c.broken
	}
	if resp.Error != nil {
		return resp.Error
	}
	if resp.V != ProtocolVersion {
		return fmt.Errorf("the mfad CLI (protocol %d) and the daemon (protocol %d) differ: restart the daemon (`mfad daemon`) after upgrading", ProtocolVersion, resp.V)
	}
	if out != nil && len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("decoding the mfad daemon's answer to %q: %w", op, err)
		}
	}
	return nil
}

// roundTrip writes req and reads one response. Any failure leaves the
// client broken.
func (c *Client) roundTrip(ctx context.Context, req *Request, frame []byte) (*Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	resp, err := c.exchange(req, frame)
	if !stop() {
		// ctx ended and the connection was closed under us.
		c.broken = fmt.Errorf("the connection to the mfad daemon was closed after a cancelled request: %w", ctx.Err())
		return nil, ctx.Err()
	}
	if err != nil {
		c.fail(err)
		return nil, err
	}
	return resp, nil
}

// exchange writes the encoded request frame and reads one response.
func (c *Client) exchange(req *Request, frame []byte) (*Response, error) {
	if _, err := c.nc.Write(frame); err != nil {
		// The daemon may have refused the connection and closed it before
		// reading anything; if so, its reason is already waiting.
		c.nc.SetReadDeadline(time.Now().Add(rejectReadTimeout))
		if resp, rerr := DecodeResponse(c.nc); rerr == nil && resp.ID == 0 && resp.Error != nil {
			return resp, nil
		}
		return nil, fmt.Errorf("sending %q to the mfad daemon at %s: %w (is the daemon still running? try again, or restart it with `mfad daemon`)", req.Op, c.path, err)
	}
	resp, err := DecodeResponse(c.nc)
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("the mfad daemon at %s closed the connection without answering %q: it may have stopped or crashed; check its log and try again", c.path, req.Op)
	default:
		return nil, fmt.Errorf("reading the mfad daemon's answer to %q: %w", req.Op, err)
	}
}

// fail marks the client unusable and closes the connection.
func (c *Client) fail(err error) {
	if c.broken == nil {
		c.broken = err
	}
	c.Close()
}

// Close closes the connection. The daemon then cancels the contexts of
// anything tied to it. Close is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			c.closeErr = fmt.Errorf("closing the connection to the mfad daemon: %w", err)
		}
	})
	return c.closeErr
}
