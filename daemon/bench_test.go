package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/benchbase"
	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// The benchmarks here measure the credentials endpoint against a bare
// net/http handler that checks a token in constant time and writes the same
// bytes with the same headers. Run them with
//
//	go test -run '^$' -bench . -benchmem ./daemon/
//
// cmd/mfad-bench measures the same over loopback with many connections.

// benchHost is the Host the endpoint under a direct call answers.
const benchHost = "127.0.0.1:49152"

// benchWorld is an unlocked daemon on the real clock, with an STS emulator.
type benchWorld struct {
	d    *Daemon
	tok  Token
	body []byte
}

// newBenchWorld starts an emulator on the real clock and a daemon whose
// profile "work" is unlocked and whose role profile "admin" is served.
// audit, when set, receives the audit log.
func newBenchWorld(tb testing.TB, audit io.Writer) *benchWorld {
	tb.Helper()
	emu, err := stsemu.Start(stsemu.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { emu.Close() })
	user, err := emu.AddUser("alice")
	if err != nil {
		tb.Fatal(err)
	}
	roleARN := emu.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	work := configs.NewProfile("work")
	work.MFASerial, work.Region, work.Sources = user.MFASerial, "eu-west-1", []string{configs.SourceMFAD}
	admin := *work
	admin.Name, admin.RoleARN, admin.SourceProfile = "admin", roleARN, "work"
	cfg := &configs.Config{Listen: "127.0.0.1:0", STSEndpoint: emu.URL, Keyring: configs.Keyring{Backend: "memory"},
		Profiles: map[string]*configs.Profile{"work": work, "admin": &admin}}
	st := keystore.NewMemory()
	ctx := context.Background()
	if err := keystore.PutAccessKey(ctx, st, "work", keystore.AccessKey{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey}); err != nil {
		tb.Fatal(err)
	}
	d, err := New(Options{Config: cfg, Store: st, Clock: clock.System{}, Audit: audit,
		Broker: session.NewBroker(session.BrokerOptions{Endpoint: emu.URL})})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	if _, err := d.Unlock(ctx, "work", emu.Code(user, time.Now())); err != nil {
		tb.Fatal(err)
	}
	testenv.WaitFor(tb, "the admin role session", func() bool { return d.t().profiles["admin"].served.Load() != nil })
	tok, err := d.tokens.issue(TokenEnv, "work", "bench", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return &benchWorld{d: d, tok: tok, body: d.t().profiles["work"].served.Load().body}
}

// stubWriter is a reusable ResponseWriter that keeps nothing.
type stubWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *stubWriter) Header() http.Header { return w.h }
func (w *stubWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
func (w *stubWriter) WriteHeader(s int) { w.status = s }

// credsRequest is a request as an AWS SDK sends it.
func credsRequest(host, profile, token string) *http.Request {
	r := originRequest(host, CredentialsPath+profile)
	r.Header.Set("Authorization", token)
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64")
	r.Header.Set("Accept-Encoding", "gzip")
	r.RemoteAddr = "127.0.0.1:50000"
	return r
}

// BenchmarkEndpointHit calls the handler directly with a reusable
// ResponseWriter: what the endpoint itself costs, and what it allocates.
func BenchmarkEndpointHit(b *testing.B) {
	cases := []struct {
		name  string
		audit io.Writer
		bare  bool
	}{
		{name: "mfad"},
		{name: "mfad-audit", audit: io.Discard},
		{name: "bare", bare: true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := newBenchWorld(b, c.audit)
			var h http.Handler = w.d.NewEndpoint(benchHost)
			if c.bare {
				h = benchbase.NewBare(w.tok.Value, w.body)
			}
			r := credsRequest(benchHost, "work", w.tok.Value)
			if c.audit != nil {
				// As the server gives it: the connection's audit record.
				client, server := net.Pipe()
				defer client.Close()
				defer server.Close()
				r = r.WithContext(w.d.audit.ConnContext(r.Context(), server))
			}
			sw := &stubWriter{h: http.Header{}}
			h.ServeHTTP(sw, r)
			if sw.status != 0 || sw.h.Get("Content-Type") != "application/json" {
				b.Fatalf("status %d, headers %v", sw.status, sw.h)
			}
			calls := 1
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(sw, r)
				calls++
			}
			b.StopTimer()
			if sw.status != 0 || sw.n != len(w.body)*calls {
				b.Fatalf("status %d, %d bytes written for %d calls", sw.status, sw.n, calls)
			}
		})
	}
}

// BenchmarkEndpointHitParallel is BenchmarkEndpointHit from every CPU at
// once: what the handler's shared state costs under contention.
func BenchmarkEndpointHitParallel(b *testing.B) {
	for _, name := range []string{"mfad", "bare"} {
		b.Run(name, func(b *testing.B) {
			w := newBenchWorld(b, nil)
			var h http.Handler = w.d.NewEndpoint(benchHost)
			if name == "bare" {
				h = benchbase.NewBare(w.tok.Value, w.body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := credsRequest(benchHost, "work", w.tok.Value)
				sw := &stubWriter{h: http.Header{}}
				for pb.Next() {
					h.ServeHTTP(sw, r)
				}
				if sw.status != 0 {
					b.Errorf("status %d", sw.status)
				}
			})
		})
	}
}

// BenchmarkEndpointHTTP fetches over loopback with keep-alive clients, one
// per parallel goroutine, from the endpoint and from the bare handler served
// by the same server settings.
func BenchmarkEndpointHTTP(b *testing.B) {
	for _, name := range []string{"mfad", "bare"} {
		b.Run(name, func(b *testing.B) {
			w := newBenchWorld(b, nil)
			ln, err := ListenEndpoint("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			host := ln.Addr().String()
			var h http.Handler = w.d.NewEndpoint(host)
			if name == "bare" {
				h = benchbase.NewBare(w.tok.Value, w.body)
			}
			srv := NewHTTPServer(h)
			go srv.Serve(ln)
			b.Cleanup(func() { srv.Close() })
			tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
			b.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			url := "http://" + host + CredentialsPath + "work"
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header["Authorization"] = []string{w.tok.Value}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.ReadFull(resp.Body, buf[:len(w.body)])
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != len(w.body) {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenCheck checks a valid token, a wrong secret and a malformed
// value.
func BenchmarkTokenCheck(b *testing.B) {
	reg := newTokenRegistry()
	var tok Token
	for i := range 10 {
		t, err := reg.issue(TokenEnv, "work", "bench", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			tok = t
		}
	}
	wrong := []byte(tok.Value)
	wrong[len(wrong)-1] ^= 1
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"valid", tok.Value, true},
		{"wrong-secret", string(wrong), false},
		{"malformed", "Bearer something", false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if (reg.check(c.value) != nil) != c.ok {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// TestConcurrentHTTPFetchesShareOneRenewal is
// TestConcurrentFetchesShareOneRenewal through the endpoint: 1,000 HTTP
// clients, each on its own kept-alive connection, fetch a role profile at
// the same instant, just after its role session expired. They share one STS
// call, and none gets an error or an expired credential.
func TestConcurrentHTTPFetchesShareOneRenewal(t *testing.T) {
	const clients = 1000
	e := testenv.New(t)
	ctx := context.Background()
	d, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	tok, err := d.tokens.issue(TokenEnv, "admin", "test", e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenEndpoint("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().(*net.TCPAddr).String()
	srv := NewHTTPServer(d.NewEndpoint(host))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + host + CredentialsPath + "admin"

	fetch := func(c *http.Client) (containerCreds, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", tok.Value)
		resp, err := c.Do(req)
		if err != nil {
			return containerCreds{}, err
		}
		defer resp.Body.Close()
		var cc containerCreds
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return cc, &httpError{status: resp.StatusCode, body: string(b)}
		}
		return cc, json.NewDecoder(resp.Body).Decode(&cc)
	}

	// Every client opens its connection first, on fresh credentials.
	cs := make([]*http.Client, clients)
	var wg sync.WaitGroup
	var warmErrs atomic.Int32
	for i := range cs {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		t.Cleanup(tr.CloseIdleConnections)
		cs[i] = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		wg.Add(1)
		go func(c *http.Client) {
			defer wg.Done()
			if _, err := fetch(c); err != nil {
				warmErrs.Add(1)
			}
		}(cs[i])
		if i%100 == 99 {
			wg.Wait()
		}
	}
	wg.Wait()
	if n := warmErrs.Load(); n != 0 {
		t.Fatalf("%d clients failed before the renewal", n)
	}

	before := e.Count("AssumeRole")
	// The role session expires while no timer ran (a suspended laptop), and
	// STS takes its time to answer the renewal.
	e.Emu.InjectFault(stsemu.Fault{Action: "AssumeRole", Latency: 200 * time.Millisecond})
	start := make(chan struct{})
	var failures, expired atomic.Int32
	var firstErr atomic.Value
	for _, c := range cs {
		wg.Add(1)
		go func(c *http.Client) {
			defer wg.Done()
			<-start
			cc, err := fetch(c)
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			exp, err := time.Parse(expiryFormat, cc.Expiration)
			if err != nil || !exp.After(e.Clock.Now()) {
				expired.Add(1)
			}
		}(c)
	}
	// Jump only once the daemon is quiet: a request signed before the jump
	// and checked after it would fail on its signature time.
	testenv.WaitFor(t, "a quiet daemon", func() bool {
		p := d.t().profiles["admin"]
		d.mu.Lock()
		defer d.mu.Unlock()
		return p.role != nil && !p.kicked.Load()
	})
	e.Clock.Set(testenv.Start.Add(61 * time.Minute))
	close(start)
	wg.Wait()
	if failures.Load() != 0 || expired.Load() != 0 {
		t.Fatalf("%d failures (first: %v), %d expired credentials", failures.Load(), firstErr.Load(), expired.Load())
	}
	if n := e.Count("AssumeRole") - before; n != 1 {
		t.Fatalf("%d AssumeRole calls for %d concurrent HTTP fetches, want 1", n, clients)
	}
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }
