package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/benchbase"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// Servers the throughput rounds can measure.
const (
	// serverMfad is the daemon's endpoint, with an audit log file as
	// `mfad daemon` keeps one.
	serverMfad = "mfad"
	// serverMfadNoAudit is the daemon's endpoint without an audit log.
	serverMfadNoAudit = "mfad-noaudit"
	// serverBare is the baseline handler on the endpoint's server settings
	// (daemon.NewHTTPServer: timeouts and header limits).
	serverBare = "bare"
	// serverBareDefault is the baseline handler on a zero http.Server.
	serverBareDefault = "bare-default"
)

// inproc is an STS emulator, daemons and baseline servers in this process.
type inproc struct {
	emu     *stsemu.Server
	targets map[string]target
	closers []func()
}

func (w *inproc) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// startInproc starts the servers named; dir holds runtime directories and
// audit logs. Baselines serve the body and token shape of the first daemon.
func startInproc(ctx context.Context, servers []string, dir string) (w *inproc, err error) {
	w = &inproc{targets: map[string]target{}}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.emu, err = stsemu.Start(stsemu.Options{}); err != nil {
		return nil, fmt.Errorf("start the STS emulator: %w", err)
	}
	w.closers = append(w.closers, func() { w.emu.Close() })
	var body []byte
	for _, name := range servers {
		if name != serverMfad && name != serverMfadNoAudit {
			continue
		}
		t, err := w.startDaemon(ctx, name, dir)
		if err != nil {
			return nil, err
		}
		w.targets[name] = t
		if body == nil {
			body = t.body
		}
	}
	if body == nil {
		return nil, errors.New("-servers names no mfad server: the baselines serve what mfad serves")
	}
	for _, name := range servers {
		if name != serverBare && name != serverBareDefault {
			continue
		}
		tok, err := newBareToken()
		if err != nil {
			return nil, err
		}
		h := benchbase.NewBare(tok, body)
		ln, err := daemon.ListenEndpoint("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := daemon.NewHTTPServer(h)
		if name == serverBareDefault {
			srv = &http.Server{Handler: h}
		}
		go srv.Serve(ln)
		w.closers = append(w.closers, func() { srv.Close() })
		w.targets[name] = target{name: name, addr: ln.Addr().String(), path: daemon.CredentialsPath + "work", token: tok, body: body}
	}
	for _, name := range servers {
		if _, ok := w.targets[name]; !ok {
			return nil, fmt.Errorf("unknown server %q in -servers: use %s, %s, %s or %s", name, serverMfad, serverMfadNoAudit, serverBare, serverBareDefault)
		}
	}
	return w, nil
}

// startDaemon runs a daemon with one unlocked key profile, "work", and
// returns its endpoint as a client configured by `mfad env` sees it.
func (w *inproc) startDaemon(ctx context.Context, name, dir string) (target, error) {
	user, err := w.emu.AddUser(name)
	if err != nil {
		return target{}, err
	}
	prof := configs.NewProfile("work")
	prof.MFASerial, prof.Region, prof.Sources = user.MFASerial, "eu-west-1", []string{configs.SourceMFAD}
	cfg := &configs.Config{Listen: "127.0.0.1:0", STSEndpoint: w.emu.URL, Keyring: configs.Keyring{Backend: keystore.BackendMemory},
		Profiles: map[string]*configs.Profile{"work": prof}}
	st := keystore.NewMemory()
	if err := keystore.PutAccessKey(ctx, st, "work", keystore.AccessKey{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey}); err != nil {
		return target{}, err
	}
	opts := daemon.Options{Config: cfg, Store: st, Logger: slog.New(slog.DiscardHandler),
		Broker: session.NewBroker(session.BrokerOptions{Endpoint: w.emu.URL})}
	if name == serverMfad {
		// As `mfad daemon` opens it: a rotated file.
		f, err := audit.OpenFile(filepath.Join(dir, name+"-audit.log"), audit.MaxSize)
		if err != nil {
			return target{}, err
		}
		w.closers = append(w.closers, func() { f.Close() })
		opts.Audit = f
	}
	d, err := daemon.New(opts)
	if err != nil {
		return target{}, err
	}
	runDir := filepath.Join(dir, name+"-run")
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- d.Run(dctx, daemon.RunOptions{RuntimeDir: runDir, Listen: "127.0.0.1:0", Ready: func(string) { close(ready) }})
	}()
	w.closers = append(w.closers, func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err
		return target{}, fmt.Errorf("start the %s daemon: %w", name, err)
	case <-time.After(30 * time.Second):
		return target{}, fmt.Errorf("the %s daemon did not start in 30s", name)
	}
	if _, err := d.Unlock(ctx, "work", w.emu.Code(user, time.Now())); err != nil {
		return target{}, fmt.Errorf("unlock the %s daemon: %w", name, err)
	}
	c, err := ipc.Dial(ctx, ipc.SocketPath(runDir))
	if err != nil {
		return target{}, err
	}
	defer c.Close()
	r, err := c.Env(ctx, ipc.EnvRequest{Profile: "work", Label: "mfad-bench"})
	if err != nil {
		return target{}, err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return target{}, fmt.Errorf("endpoint URL %q: %w", r.URL, err)
	}
	body, err := fetchOnce(ctx, r.URL, r.Token)
	if err != nil {
		return target{}, fmt.Errorf("fetch from the %s daemon: %w", name, err)
	}
	return target{name: name, addr: u.Host, path: u.Path, token: r.Token, body: body}, nil
}

// fetchOnce GETs url with token on a new connection and returns the body of
// a 200 response.
func fetchOnce(ctx context.Context, url, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	req.Header.Set("Authorization", token)
	tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
	}
	return body, nil
}
