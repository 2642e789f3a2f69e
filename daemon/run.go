package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/fileutil"
	"github.com/c0950fac/mfad/ipc"
)

// Runtime directory files published for the CLI and for clients.
const (
	// EndpointFile holds the endpoint's base URL.
	EndpointFile = "endpoint"
	// TokenFile holds the daemon token (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
	TokenFile = "token"
	// TokensDir holds one file per client token.
	TokensDir = "tokens"
)

// The control socket serves ipc.DefaultMaxConns connections, plus
// controlReserved kept for the operations that must work when every other
// slot is held (by `mfad exec` commands, which hold theirs while their
// command runs): status, lock and token listing and revocation. A
// connection with no request in progress for controlIdleTimeout is closed;
// an `mfad exec` holds a request in progress (hold), so it is never idle.
const (
	controlReserved    = 4
	controlIdleTimeout = 5 * time.Minute
)

// controlPriority reports whether op may use a reserved control slot.
func controlPriority(op string) bool {
	switch op {
	case ipc.OpStatus.Name(), ipc.OpLock.Name(), ipc.OpTokens.Name(), ipc.OpRevoke.Name():
		return true
	}
	return false
}

// RunOptions say where the daemon listens.
type RunOptions struct {
	// RuntimeDir holds the control socket and the published files.
	RuntimeDir string
	// Listen is the endpoint address (127.0.0.1:PORT).
	Listen string
	// Ready, when set, is called once both listeners are up.
	Ready func(endpoint string)
	// InstanceLock, when set, is a lock file outside RuntimeDir that the
	// daemon holds while it runs, so that no second daemon starts for the
	// same RuntimeDir even while the directory has been removed (and not
	// yet recreated, see watchRuntime).
	InstanceLock string
	// Parallelism, when set, is called with true to run the process on one
	// P (GOMAXPROCS 1) while the endpoint's clients ask one at a time, and
	// with false to go back to the runtime's default when several ask at
	// once (see parallelism). GOMAXPROCS belongs to the whole process: `mfad
	// daemon` sets it; a daemon sharing its process leaves it nil.
	Parallelism func(serial bool)
}

// instanceWait bounds how long a starting daemon waits for another one
// holding the instance lock, whose runtime directory is gone: that one
// recreates it within runtimeCheckEvery, or is stopping.
const instanceWait = 3 * time.Second

// lockInstance takes o.InstanceLock. When another daemon holds it, the
// error wraps ipc.ErrDaemonRunning.
func lockInstance(ctx context.Context, o RunOptions) (unlock func(), err error) {
	if o.InstanceLock == "" {
		return func() {}, nil
	}
	sock := ipc.SocketPath(o.RuntimeDir)
	deadline := time.Now().Add(instanceWait)
	for {
		unlock, err := fileutil.TryLock(o.InstanceLock)
		if !errors.Is(err, fileutil.ErrLocked) {
			return unlock, err
		}
		_, serr := os.Lstat(sock)
		if serr == nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w for runtime directory %s (it holds %s): use it, or stop it before starting another", ipc.ErrDaemonRunning, o.RuntimeDir, o.InstanceLock)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Run restores cached sessions, opens the control socket and the
// credentials endpoint, starts the daemon's background work (the desktop
// watcher), and serves until ctx ends; it then closes the daemon.
func (d *Daemon) Run(ctx context.Context, o RunOptions) error {
	unlock, err := lockInstance(ctx, o)
	if err != nil {
		return err
	}
	defer unlock()
	if err := ipc.EnsureRuntimeDir(o.RuntimeDir); err != nil {
		return err
	}
	sock, err := ipc.Listen(ipc.SocketPath(o.RuntimeDir))
	if err != nil {
		return err
	}
	ctl, err := newRelistener(sock, ipc.SocketPath(o.RuntimeDir))
	if err != nil {
		sock.Close()
		return err
	}
	defer ctl.Close()
	prev := previousEndpoint(o.RuntimeDir)
	ln, err := listenEndpoint(o.Listen, o.RuntimeDir)
	if err != nil {
		return err
	}
	ln = newPeerListener(ln, os.Getuid(), d.clock, d.log)
	defer ln.Close()
	host := ln.Addr().(*net.TCPAddr).String()
	d.mu.Lock()
	d.base = "http://" + host
	d.runDir = o.RuntimeDir
	d.mu.Unlock()

	if err := os.MkdirAll(filepath.Join(o.RuntimeDir, TokensDir), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(o.RuntimeDir, TokensDir), err)
	}
	t, err := d.tokens.issue(TokenDaemon, "", "daemon", d.clock.Now())
	if err != nil {
		return err
	}
	tokPath := filepath.Join(o.RuntimeDir, TokenFile)
	if err := writeFileAtomic(tokPath, []byte(t.Value)); err != nil {
		return err
	}
	d.tokens.setFile(t.ID, tokPath)
	d.auditToken(audit.TokenIssued, t, os.Getpid(), "daemon started")
	if err := writeFileAtomic(filepath.Join(o.RuntimeDir, EndpointFile), []byte(d.base)); err != nil {
		return err
	}
	d.restoreTokens(host == prev)

	if file := d.keystoreWaiting(); file != "" {
		d.log.Warn("the encrypted keystore waits for its passphrase: run `mfad unlock`", "file", file)
	} else if err := d.Restore(ctx); err != nil {
		d.log.Warn("some cached sessions could not be restored; unlock those profiles again", "error", err)
	}
	d.startDesktop()
	srv := NewHTTPServer(d.NewEndpoint(host))
	srv.ConnContext = withPeerConn
	// Requests are counted on their connection's audit record.
	d.audit.Attach(srv)
	// Idle keep-alive connections are bounded, and bursts release memory.
	idle := watchIdle(srv, d.release.schedule)
	defer idle.stop()
	// One P while clients ask one at a time.
	d.par = newParallelism(d.clock, d.log, o.Parallelism)
	d.par.start()
	defer d.par.stop()
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	// The control server stops only after the daemon has marked itself as
	// stopping, so that closing connections keeps client tokens.
	ictx, icancel := context.WithCancel(context.WithoutCancel(ctx))
	defer icancel()
	is := &ipc.Server{Handler: d, Logger: d.log, IdleTimeout: controlIdleTimeout,
		Reserved: controlReserved, Priority: controlPriority}
	go func() { errc <- is.Serve(ictx, ctl) }()
	// If the runtime directory or the socket vanish, they are recreated,
	// or the daemon stops: it never serves unreachable by the CLI.
	// The first check's deadline is set before Ready: a check is due
	// runtimeCheckEvery after the daemon is up, however late the watcher
	// goroutine starts.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	firstCheck := d.clock.Now().Add(runtimeCheckEvery)
	go func() {
		if err := d.watchRuntime(wctx, o.RuntimeDir, ctl, firstCheck); err != nil {
			errc <- err
		}
	}()
	d.log.Info("mfad daemon serving", "endpoint", d.base, "socket", ipc.SocketPath(o.RuntimeDir), "keystore", d.store.Backend(), "profiles", d.t().names)
	if o.Ready != nil {
		o.Ready(d.base)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Client tokens stay valid for the next daemon: closing connections
	// from now on must not revoke exec tokens.
	d.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5e9)
	defer cancel()
	_ = srv.Shutdown(sctx)
	icancel()
	d.markStopped()
	d.Close()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// writeTokenFile writes a client token's file: 0600, atomically, with no
// trailing newline (several SDKs reject one).
func (d *Daemon) writeTokenFile(t Token) (string, error) {
	path := filepath.Join(d.runDir, TokensDir, t.ID)
	if err := writeFileAtomic(path, []byte(t.Value)); err != nil {
		return "", err
	}
	d.tokens.setFile(t.ID, path)
	return path, nil
}

// writeFileAtomic writes a runtime directory file: mode 0600, atomically.
func writeFileAtomic(path string, data []byte) error {
	return fileutil.WriteFileAtomic(path, data, 0o600)
}
