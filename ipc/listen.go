package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// probeTimeout bounds how long Listen waits for an existing socket to answer.
const probeTimeout = 2 * time.Second

// Listen is ListenContext with a background context.
func Listen(path string) (net.Listener, error) {
	return ListenContext(context.Background(), path)
}

// ListenContext binds the daemon's control socket at path, whose directory
// should have been prepared by EnsureRuntimeDir, and restricts it to mode
// 0600.
//
// A socket file left behind by a daemon that is gone is removed first. If a
// daemon still answers on path, or holds the socket's lock file
// (path+".lock", on platforms with advisory locks), the error wraps
// ErrDaemonRunning. Anything other than a socket at path is left alone and
// reported. Closing the listener removes the socket file and releases the
// lock.
func ListenContext(ctx context.Context, path string) (net.Listener, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	lock, err := lockSocket(path)
	if err != nil {
		return nil, err
	}
	ln, err := listenUnlocked(ctx, path)
	if err != nil {
		lock()
		return nil, err
	}
	return &lockedListener{UnixListener: ln, unlock: lock}, nil
}

func listenUnlocked(ctx context.Context, path string) (*net.UnixListener, error) {
	if err := removeStaleSocket(ctx, path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on the mfad control socket %s: %w", path, err)
	}
	// The runtime directory is already private (0700); this also keeps the
	// socket private if it was placed somewhere else.
	if err := chmodSocket(path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting the mfad control socket %s to mode 0600: %w", path, err)
	}
	return ln, nil
}

// removeStaleSocket removes a socket file at path that no process answers
// on. It returns an error wrapping ErrDaemonRunning if one does.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the mfad control socket %s: %w", path, err)
	}
	if fi.Mode().IsRegular() || fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s exists but is not a socket (mode %s): move it out of the way and start the daemon again", path, fi.Mode().Type())
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(pctx, "unix", path)
	switch {
	case err == nil:
		c.Close()
		return daemonRunningError(path)
	case isConnRefused(err):
		// Nobody is listening: the file was left behind by a daemon that
		// did not shut down cleanly.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the stale mfad control socket %s: %w", path, err)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("cannot tell whether an mfad daemon is listening on %s: %w", path, err)
	}
}

func daemonRunningError(path string) error {
	return fmt.Errorf("%w (socket %s): use it, or stop it before starting another", ErrDaemonRunning, path)
}

// lockedListener holds the socket's lock file for as long as it listens.
type lockedListener struct {
	*net.UnixListener
	unlock func()
	once   sync.Once
}

// Close stops listening, removes the socket file and releases the lock.
func (l *lockedListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(l.unlock)
	return err
}

// checkSocketPath rejects paths that do not fit in a sockaddr_un, which the
// system would otherwise report as a bare "invalid argument".
func checkSocketPath(path string) error {
	limit := 108 // Linux, Windows
	switch runtime.GOOS {
	case "darwin", "ios", "freebsd", "netbsd", "openbsd", "dragonfly":
		limit = 104
	}
	if path == "" {
		return errors.New("empty mfad control socket path")
	}
	if len(path) >= limit {
		return fmt.Errorf("mfad control socket path %s is %d bytes long, but this system allows at most %d: set XDG_RUNTIME_DIR to a shorter directory", path, len(path), limit-1)
	}
	return nil
}
