package daemon

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/c0950fac/mfad/internal/testenv"
)

// newTestDaemon builds a daemon on e and cleans it up.
func newTestDaemon(t *testing.T, e *testenv.Env) *Daemon {
	t.Helper()
	d, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// quiet waits until no role renewal of p runs.
func quiet(t *testing.T, p *profState) {
	t.Helper()
	testenv.WaitFor(t, "the renewal under way", func() bool { return !p.kicked.Load() })
}

// checkServable fails unless c is valid now on STS's clock, and the
// Expiration served is no later than STS's.
func checkServable(t *testing.T, e *testenv.Env, what string, akid string, served time.Time) {
	t.Helper()
	info, ok := e.Emu.SessionInfo(akid)
	if !ok {
		t.Fatalf("%s: STS does not know %s", what, akid)
	}
	if stsNow := e.Emu.Now(); !stsNow.Before(info.Expiration) {
		t.Fatalf("%s: served credentials that expired at %v (STS's time is %v)", what, info.Expiration, stsNow)
	}
	if skew := e.Emu.Now().Sub(e.Clock.Now()); served.Add(skew).After(info.Expiration) {
		t.Fatalf("%s: served Expiration %v, later than STS's %v (offset %v)", what, served, info.Expiration, skew)
	}
}

// TestShortRoleLifetimesRenewAtABoundedRate: STS issues role credentials
// of 120 seconds, far less than refresh_lead (20m). The daemon neither
// renews at once and again (a storm) nor lets them lapse: at most 4 STS
// calls in the first minute, a renewal before each expiry, no code asked
// for, no expired credential served, and the short lifetime logged once.
func TestShortRoleLifetimesRenewAtABoundedRate(t *testing.T) {
	e := testenv.New(t)
	e.Emu.SetMaxLifetime("AssumeRole", 120*time.Second)
	ctx := context.Background()
	d := newTestDaemon(t, e)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	p := d.t().profiles["admin"]
	start := e.Clock.Now()
	var firstMinute int
	// Ten minutes in steps of 2 seconds, with clients asking at every step.
	for e.Clock.Now().Before(start.Add(10 * time.Minute)) {
		e.Clock.Advance(2 * time.Second)
		for i := 0; i < 5; i++ {
			c, err := d.Credentials(ctx, "admin")
			if err != nil {
				t.Fatalf("at %v: %v", e.Clock.Now().Sub(start), err)
			}
			checkServable(t, e, "at "+e.Clock.Now().Sub(start).String(), c.AccessKeyID, c.Expiration)
		}
		quiet(t, p)
		if e.Clock.Now().Sub(start) <= time.Minute {
			firstMinute = e.Count("")
		}
	}
	if firstMinute > 4 {
		t.Errorf("%d STS calls in the first minute, want at most 4", firstMinute)
	}
	// One renewal a minute (half of 120 s), no more.
	if n := e.Count("AssumeRole"); n < 10 || n > 12 {
		t.Errorf("%d AssumeRole calls in 10 minutes of 120-second credentials, want 10 to 12", n)
	}
	if n := e.Count("GetSessionToken"); n != 1 {
		t.Errorf("%d GetSessionToken calls: renewals must need no code", n)
	}
	if n := strings.Count(e.Log.String(), "STS issues credentials that last less than the lead"); n != 1 {
		t.Errorf("the short lifetime was logged %d times, want once", n)
	}
	if st := d.Status("admin")[0]; st.ShortLifetimeSeconds != 120 {
		t.Errorf("status shows short lifetime %d s, want 120", st.ShortLifetimeSeconds)
	}
	if st := d.Status("work")[0]; st.ShortLifetimeSeconds != 0 {
		t.Errorf("the MFA session's lifetime is not short: %+v", st)
	}
}

// TestNothingFresherIsNotSuccess: a renewal that brings credentials
// expiring no later than those held backs off instead of counting as done.
func TestNothingFresherIsNotSuccess(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	d := newTestDaemon(t, e)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	p := d.t().profiles["admin"]
	quiet(t, p)
	held, _ := d.Credentials(ctx, "admin")
	// From now on STS issues role sessions ending before the held one.
	e.Emu.SetMaxLifetime("AssumeRole", 15*time.Minute)
	e.Clock.Set(testenv.Start.Add(40 * time.Minute)) // the renewal is due
	quiet(t, p)
	st := d.Status("admin")[0]
	if !strings.Contains(st.LastError, "no later than those held") {
		t.Fatalf("status after a renewal that brought nothing fresher: %+v", st)
	}
	c, _ := d.Credentials(ctx, "admin")
	if c.AccessKeyID != held.AccessKeyID {
		t.Fatal("the fresher credentials were replaced by older ones")
	}
	if next := st.NextRefresh.Sub(e.Clock.Now()); next < minRenewGap {
		t.Fatalf("next attempt in %v, want at least %v", next, minRenewGap)
	}
	calls := e.Count("AssumeRole")
	for i := 0; i < 20; i++ {
		if _, err := d.Credentials(ctx, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	quiet(t, p)
	if n := e.Count("AssumeRole"); n != calls {
		t.Fatalf("%d STS calls by clients while backing off", n-calls)
	}
}

// TestFetchesDuringASlowRenewalNeverWait: 1,000 HTTP clients fetch, each
// on its own connection, while a renewal is held at STS. Every one of them
// is served the held credentials while STS still has not answered — no
// client waits on STS, whatever the machine's load — and the renewal is one
// STS call. The role sessions last 120 seconds, so the renewal is due at
// half their life. The latencies are logged; docs/benchmarks.md records
// them.
func TestFetchesDuringASlowRenewalNeverWait(t *testing.T) {
	const clients = 1000
	e := testenv.New(t)
	e.Emu.SetMaxLifetime("AssumeRole", 120*time.Second)
	ctx := context.Background()
	d := newTestDaemon(t, e)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	p := d.t().profiles["admin"]
	quiet(t, p)
	tok, err := d.tokens.issue(TokenEnv, "admin", "test", e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenEndpoint("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().(*net.TCPAddr).String()
	// The daemon's own latency: from the handler's start to its end.
	ep := d.NewEndpoint(host)
	var measuring atomic.Bool
	var smu sync.Mutex
	var served []time.Duration
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		ep.ServeHTTP(w, r)
		if measuring.Load() {
			d := time.Since(t0)
			smu.Lock()
			served = append(served, d)
			smu.Unlock()
		}
	}))
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
	// Every client opens its connection first.
	cs := make([]*http.Client, clients)
	var wg sync.WaitGroup
	for i := range cs {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		t.Cleanup(tr.CloseIdleConnections)
		cs[i] = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		wg.Add(1)
		go func(c *http.Client) {
			defer wg.Done()
			if _, err := fetch(c); err != nil {
				t.Error(err)
			}
		}(cs[i])
		if i%100 == 99 {
			wg.Wait()
		}
	}
	wg.Wait()
	old, _ := d.Credentials(ctx, "admin")

	before := e.Count("AssumeRole")
	release := e.Emu.Hold()
	t.Cleanup(release)
	// The renewal falls due: it starts in the background, and STS does not
	// answer it until the clients are all served.
	e.Clock.Set(p.renewAt)
	if !p.kicked.Load() {
		t.Fatal("no renewal started")
	}
	renewing := time.Now()
	measuring.Store(true)
	var failures, expired, fresh atomic.Int32
	lat := make([]time.Duration, clients)
	start := make(chan struct{})
	// The clients come at random moments of the renewal's first 1.5 s.
	for i, c := range cs {
		wg.Add(1)
		delay := time.Duration(rand.Int64N(int64(1500 * time.Millisecond)))
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(delay)
			t0 := time.Now()
			cc, err := fetch(c)
			lat[i] = time.Since(t0)
			if err != nil {
				failures.Add(1)
				t.Log(err)
				return
			}
			if cc.AccessKeyID != old.AccessKeyID {
				fresh.Add(1)
			}
			exp, err := time.Parse(expiryFormat, cc.Expiration)
			if err != nil || !exp.After(e.Clock.Now()) {
				expired.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	during := time.Since(renewing)
	measuring.Store(false)
	stillRenewing := p.kicked.Load()
	release()
	quiet(t, p)
	slices.Sort(lat)
	smu.Lock()
	slices.Sort(served)
	smu.Unlock()
	if len(served) != clients {
		t.Fatalf("the endpoint answered %d requests, want %d", len(served), clients)
	}
	p99 := served[clients*99/100]
	t.Logf("%d fetches during a renewal held at STS, answered by the endpoint in p50 %v, p99 %v, max %v; seen by the clients in p50 %v, p99 %v, max %v; all done %v after it started; %d got the renewed credentials",
		clients, served[clients/2], p99, served[clients-1], lat[clients/2], lat[clients*99/100], lat[clients-1], during, fresh.Load())
	if n := failures.Load(); n != 0 {
		t.Errorf("%d fetches failed", n)
	}
	if n := expired.Load(); n != 0 {
		t.Errorf("%d fetches got expired credentials", n)
	}
	if n := e.Count("AssumeRole") - before; n != 1 {
		t.Errorf("%d AssumeRole calls, want 1", n)
	}
	// STS answered nothing until every client was served: none waited on it.
	if !stillRenewing {
		t.Errorf("the renewal ended before STS answered it")
	}
	if n := fresh.Load(); n != 0 {
		t.Errorf("%d fetches got credentials STS had not yet issued", n)
	}
	if c, _ := d.Credentials(ctx, "admin"); c.AccessKeyID == old.AccessKeyID {
		t.Errorf("the renewal released by STS did not replace the credentials")
	}
}

// TestLockedProfileOneRequestPerGoSDKCall: an STS call made by the AWS SDK
// for Go v2 on a locked profile fetches from the endpoint once, and shows
// what to run. A 503 would make it fetch several times per call: the
// credentials client retries it, and the service client's retryer, which
// wraps credential retrieval, retries that again.
func TestLockedProfileOneRequestPerGoSDKCall(t *testing.T) {
	e := testenv.New(t)
	d := newTestDaemon(t, e)
	tok, err := d.tokens.issue(TokenEnv, "work", "test", e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenEndpoint("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().(*net.TCPAddr).String()
	var n atomic.Int32
	ep := d.NewEndpoint(host)
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		ep.ServeHTTP(w, r)
	}))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// The same SDK against an endpoint that answers 503, for comparison.
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"code":"ProfileLocked","message":"locked"}`))
	}))
	t.Cleanup(unavailable.Close)

	call := func(url string) (int, error) {
		n.Store(0)
		creds := aws.NewCredentialsCache(endpointcreds.New(url, func(o *endpointcreds.Options) {
			o.AuthorizationToken = tok.Value
		}))
		c := sts.NewFromConfig(aws.Config{Region: "eu-west-1", Credentials: creds}, func(o *sts.Options) {
			o.BaseEndpoint = aws.String(e.Emu.URL)
			o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		})
		_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return int(n.Load()), err
	}
	for i := 0; i < 3; i++ {
		got, err := call("http://" + host + CredentialsPath + "work")
		if err == nil || !strings.Contains(err.Error(), "mfad unlock work") {
			t.Fatalf("call %d on a locked profile: %v", i, err)
		}
		if got != 1 {
			t.Fatalf("call %d: %d requests to the endpoint, want 1", i, got)
		}
	}
	got, _ := call(unavailable.URL + CredentialsPath + "work")
	t.Logf("one Go SDK call: 1 request for %d, %d for 503", StatusLocked, got)
	if got <= 1 {
		t.Fatalf("a 503 made %d requests: the reason for StatusLocked is gone", got)
	}
	if n := e.Count(""); n != 0 {
		t.Fatalf("%d STS calls with no credentials", n)
	}
}

// TestClockAheadOfSTS: this machine's clock runs 45 minutes ahead of STS's.
// The daemon warns once (log and status), signs at STS's time, reads
// expiries on it — no storm of renewals for credentials that look short,
// and no expired credential served.
func TestClockAheadOfSTS(t *testing.T) {
	e := testenv.New(t)
	e.Emu.SetClockOffset(-45 * time.Minute)
	ctx := context.Background()
	d := newTestDaemon(t, e)
	// The authenticator shows the code of STS's time (a phone's clock).
	if _, err := d.Unlock(ctx, "admin", e.Emu.Code(e.User, e.Emu.Now())); err != nil {
		t.Fatal(err)
	}
	p := d.t().profiles["admin"]
	quiet(t, p)
	if st := d.statusReply(); st.ClockSkewSeconds != -45*60 {
		t.Fatalf("status shows a skew of %d s, want -2700", st.ClockSkewSeconds)
	}
	c, err := d.Credentials(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	// Served on this machine's clock: an hour from now.
	if want := e.Clock.Now().Add(time.Hour); c.Expiration.Sub(want).Abs() > 2*time.Second {
		t.Fatalf("served Expiration %v, want about %v (an hour on this machine's clock)", c.Expiration, want)
	}
	start := e.Clock.Now()
	for e.Clock.Now().Before(start.Add(3 * time.Hour)) {
		e.Clock.Advance(10 * time.Second)
		c, err := d.Credentials(ctx, "admin")
		if err != nil {
			t.Fatalf("at %v: %v", e.Clock.Now().Sub(start), err)
		}
		checkServable(t, e, "at "+e.Clock.Now().Sub(start).String(), c.AccessKeyID, c.Expiration)
		quiet(t, p)
	}
	// A renewal every 40 minutes (1h sessions, 20m lead).
	if n := e.Count("AssumeRole"); n < 4 || n > 6 {
		t.Errorf("%d AssumeRole calls in 3 hours, want 4 to 6", n)
	}
	// The first GetSessionToken was refused for its signature time; the
	// code was accepted when sent again at STS's time.
	if n := e.Count("GetSessionToken"); n != 2 {
		t.Errorf("%d GetSessionToken calls, want 2", n)
	}
	log := e.Log.String()
	if n := strings.Count(log, "this machine's clock differs from STS's"); n != 1 {
		t.Errorf("the clock warning was logged %d times, want once", n)
	}
	if strings.Contains(log, "STS issues credentials that last less than the lead") {
		t.Error("the skew was taken for short lifetimes")
	}
}

// TestCredentialsShorterThanAMinuteCannotForceCalls: STS issues role
// credentials of 30 seconds. Renewals stay a minute apart: in the gaps,
// requests get an error at once, never an STS call of their own.
func TestCredentialsShorterThanAMinuteCannotForceCalls(t *testing.T) {
	e := testenv.New(t)
	e.Emu.SetMaxLifetime("AssumeRole", 30*time.Second)
	ctx := context.Background()
	d := newTestDaemon(t, e)
	if _, err := d.Unlock(ctx, "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	p := d.t().profiles["admin"]
	quiet(t, p)
	start := e.Clock.Now()
	var served, refused int
	for e.Clock.Now().Before(start.Add(5 * time.Minute)) {
		e.Clock.Advance(5 * time.Second)
		for i := 0; i < 10; i++ {
			c, err := d.Credentials(ctx, "admin")
			if err != nil {
				if !strings.Contains(err.Error(), "next role renewal is due") {
					t.Fatalf("at %v: %v", e.Clock.Now().Sub(start), err)
				}
				refused++
				continue
			}
			served++
			checkServable(t, e, "at "+e.Clock.Now().Sub(start).String(), c.AccessKeyID, c.Expiration)
		}
		quiet(t, p)
	}
	t.Logf("5 minutes of 30-second credentials: %d AssumeRole calls, %d requests served, %d refused", e.Count("AssumeRole"), served, refused)
	if n := e.Count("AssumeRole"); n > 6 {
		t.Errorf("%d AssumeRole calls in 5 minutes, want one a minute at most", n)
	}
	if served == 0 || refused == 0 {
		t.Errorf("%d served, %d refused: want both", served, refused)
	}
}
