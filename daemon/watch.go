package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/c0950fac/mfad/ipc"
)

// runtimeCheckEvery is how often the daemon checks that its runtime
// directory, control socket and published files are still in place. A
// daemon whose socket is gone is unreachable by the CLI (no lock, no
// revoke), and another daemon could start beside it; within this time it
// recreates them, or stops.
const runtimeCheckEvery = time.Second

// watchRuntime checks the runtime directory every runtimeCheckEvery until
// ctx ends. When the control socket (or the directory with it) or a
// published file has vanished or been replaced, it recreates the directory,
// listens on a new socket in place of the old one, and writes the files
// again. When that fails (another daemon has taken the directory, say) it
// returns the error: the daemon must then stop rather than serve
// unreachable. The connections already open on the old socket are kept.
//
// The first check is due at first; each next one runtimeCheckEvery after
// the one before, by deadline, so that a check falls due on time however
// long the previous one took to start.
func (d *Daemon) watchRuntime(ctx context.Context, dir string, ctl *relistener, first time.Time) error {
	sock := ipc.SocketPath(dir)
	ctl.mu.Lock()
	want := ctl.fi
	ctl.mu.Unlock()
	next := first
	// vanished counts the checks in a row whose recreation failed because
	// the directory vanished again while it was being recreated.
	vanished := 0
	for {
		if !d.sleepUntil(ctx, next) {
			return nil
		}
		next = next.Add(runtimeCheckEvery)
		if now := d.clock.Now(); next.Before(now) {
			// The clock jumped (a suspended machine): no burst of checks
			// to catch up.
			next = now.Add(runtimeCheckEvery)
		}
		fi, err := os.Lstat(sock)
		missing := d.missingFiles(dir)
		if err == nil && os.SameFile(fi, want) && len(missing) == 0 {
			continue
		}
		what := "the control socket " + sock
		if err == nil && os.SameFile(fi, want) {
			what = fmt.Sprint(missing)
		}
		d.log.Warn("the runtime directory lost its files; recreating them", "dir", dir, "gone", what)
		socketGone := err != nil || !os.SameFile(fi, want)
		if err := d.recreateRuntime(dir, sock, ctl, socketGone, &want); err != nil {
			// Removed again half-way (a cleaner still at work): the next
			// check starts over. Anything else — another daemon's socket,
			// a directory that is not ours — stops the daemon at once.
			if errors.Is(err, fs.ErrNotExist) && vanished < runtimeVanishedRetries {
				vanished++
				d.log.Warn("the runtime directory vanished again while being recreated; trying again", "dir", dir, "err", err)
				continue
			}
			return d.runtimeLost(dir, err)
		}
		vanished = 0
		d.log.Info("recreated the runtime directory: the CLI reaches the daemon again", "dir", dir, "socket", sock)
	}
}

// runtimeVanishedRetries is how many checks in a row may find the runtime
// directory removed again while it was being recreated before the daemon
// stops.
const runtimeVanishedRetries = 5

// recreateRuntime recreates the runtime directory and, when socketGone, a
// control socket in place of the old one (want is then updated to it), and
// writes the published files again.
func (d *Daemon) recreateRuntime(dir, sock string, ctl *relistener, socketGone bool, want *fs.FileInfo) error {
	if socketGone {
		if err := ipc.EnsureRuntimeDir(dir); err != nil {
			return err
		}
		ln, err := ipc.Listen(sock)
		if err != nil {
			return err
		}
		if err := ctl.swap(ln); err != nil {
			return err
		}
		ctl.mu.Lock()
		*want = ctl.fi
		ctl.mu.Unlock()
	}
	return d.publish(dir)
}

// runtimeLost logs why the daemon stops after losing its runtime directory
// and returns the error to stop with.
func (d *Daemon) runtimeLost(dir string, err error) error {
	d.log.Error("the runtime directory was removed and could not be recreated: stopping, since no mfad command could reach this daemon; start it again",
		"dir", dir, "err", err)
	return fmt.Errorf("runtime directory %s removed and not recreated: %w", dir, err)
}

// sleepUntil waits until t on the daemon's clock; it reports false when
// ctx ends first.
func (d *Daemon) sleepUntil(ctx context.Context, t time.Time) bool {
	ch := make(chan struct{})
	timer := d.clock.At(t, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		timer.Stop()
		return false
	}
}

// missingFiles lists the published files of dir that are gone: the
// endpoint file, and the token file of each token that has one.
func (d *Daemon) missingFiles(dir string) []string {
	var gone []string
	paths := []string{filepath.Join(dir, EndpointFile)}
	for _, t := range d.tokens.list() {
		if t.File != "" {
			paths = append(paths, t.File)
		}
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, p)
		}
	}
	return gone
}

// publish writes the runtime directory's files again: the endpoint's URL,
// the daemon token, and each client token's file and description.
func (d *Daemon) publish(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, TokensDir), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(dir, TokensDir), err)
	}
	if err := writeFileAtomic(filepath.Join(dir, EndpointFile), []byte(d.base)); err != nil {
		return err
	}
	for _, t := range d.tokens.values() {
		switch {
		case t.File == "":
		case t.Kind == TokenDaemon:
			if err := writeFileAtomic(t.File, []byte(t.Value)); err != nil {
				return err
			}
		default:
			if _, err := d.persistToken(t); err != nil {
				return err
			}
			if d.tokens.check(t.Value) == nil {
				// Revoked meanwhile: its files must not outlive it.
				removeTokenFiles(t.File)
			}
		}
	}
	return nil
}

// relistener is a net.Listener whose underlying listener can be replaced
// while a server accepts on it: the control socket, recreated at the same
// path, goes on being served by the same server and connections.
type relistener struct {
	mu  sync.Mutex
	cur net.Listener
	// path is the socket's path; fi what was there when cur began.
	path   string
	fi     fs.FileInfo
	gen    int
	closed bool
}

// newRelistener returns a relistener starting with ln, listening at path.
func newRelistener(ln net.Listener, path string) (*relistener, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("the control socket %s: %w", path, err)
	}
	return &relistener{cur: ln, path: path, fi: fi}, nil
}

// keepPathOnClose makes ln leave the file at r.path alone when it closes,
// unless that file is still the one ln created (fi): a socket file another
// listener, or another daemon, now has must not be removed. r.mu is held.
func (r *relistener) keepPathOnClose(ln net.Listener, fi fs.FileInfo) {
	now, err := os.Lstat(r.path)
	if err == nil && os.SameFile(now, fi) {
		return
	}
	if u, ok := ln.(interface{ SetUnlinkOnClose(bool) }); ok {
		u.SetUnlinkOnClose(false)
	}
}

// Accept accepts on the current listener, moving on to a new one when it
// is replaced.
func (r *relistener) Accept() (net.Conn, error) {
	for {
		r.mu.Lock()
		ln, gen := r.cur, r.gen
		r.mu.Unlock()
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		r.mu.Lock()
		replaced := r.gen != gen && !r.closed
		r.mu.Unlock()
		if !replaced {
			return nil, err
		}
	}
}

// swap replaces the listener. The old one is closed without removing the
// socket file at its path, which is now the new one's.
func (r *relistener) swap(ln net.Listener) error {
	fi, err := os.Lstat(r.path)
	if err != nil {
		ln.Close()
		return fmt.Errorf("the control socket %s: %w", r.path, err)
	}
	r.mu.Lock()
	old, oldFI := r.cur, r.fi
	r.cur, r.fi = ln, fi
	r.gen++
	r.keepPathOnClose(old, oldFI)
	r.mu.Unlock()
	old.Close()
	return nil
}

// Close closes the current listener, removing its socket file only if it
// is still the one it created.
func (r *relistener) Close() error {
	r.mu.Lock()
	r.closed = true
	ln := r.cur
	r.keepPathOnClose(ln, r.fi)
	r.mu.Unlock()
	return ln.Close()
}

// Addr returns the current listener's address.
func (r *relistener) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Addr()
}
