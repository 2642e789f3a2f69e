package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/mfacode"
)

// secWorld is a daemon on the STS emulator with work and admin unlocked.
type secWorld struct {
	t     *testing.T
	e     *testenv.Env
	d     *Daemon
	audit *testenv.SafeBuffer
	// Set by run:
	dir, base, token string
	stop             func()
}

func newSecWorld(t *testing.T) *secWorld {
	t.Helper()
	e := testenv.New(t)
	w := &secWorld{t: t, e: e, audit: &testenv.SafeBuffer{}}
	d, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger, Audit: w.audit,
		Guard: mfacode.NewOnceGuard(e.Clock.Now, func(ctx context.Context, dur time.Duration) error {
			e.Clock.Advance(dur)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	w.d = d
	if _, err := d.Unlock(context.Background(), "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	return w
}

// run serves the daemon on a real listener until the test ends.
func (w *secWorld) run() {
	t := w.t
	t.Helper()
	dir, err := os.MkdirTemp("", "mfad-sec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- w.d.Run(ctx, RunOptions{RuntimeDir: dir, Listen: "127.0.0.1:0", Ready: func(base string) { ready <- base }})
	}()
	select {
	case w.base = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	w.dir, w.token = dir, string(b)
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(w.stop)
}

// host is the endpoint's host:port.
func (w *secWorld) host() string { return strings.TrimPrefix(w.base, "http://") }

// selfConn is a control-socket connection from this process.
type selfConn struct {
	ctx context.Context
}

func (c selfConn) Peer() ipc.Peer {
	return ipc.Peer{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid()}
}
func (c selfConn) Context() context.Context { return c.ctx }

// call makes a control request as the CLI would, through the wire format.
func call[Req, Rep any](ctx context.Context, w *secWorld, op ipc.Op[Req, Rep], in Req, out *Rep) error {
	w.t.Helper()
	body, _ := json.Marshal(in)
	resp := w.d.ServeIPC(selfConn{ctx: ctx}, &ipc.Request{V: ipc.ProtocolVersion, ID: 1, Op: op.Name(), Body: body})
	if resp.Error != nil {
		return resp.Error
	}
	return json.Unmarshal(resp.Body, out)
}

// get fetches url with token and extra headers.
func get(t *testing.T, c *http.Client, method, url, host, token string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// checkAnswer verifies what every endpoint answer must be: JSON, and no
// CORS header.
func checkAnswer(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s: CORS header %s", what, k)
		}
	}
	if len(body) > 0 && !json.Valid(body) {
		t.Errorf("%s: body is not JSON: %q", what, body)
	}
}

func TestEndpointRefusesBrowsersWrongHostAndMethods(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	url := w.base + CredentialsPath + "work"
	c := &http.Client{}
	// Every refusal below holds for a valid token too.
	cases := []struct {
		name   string
		method string
		host   string
		hdr    map[string]string
		status int
	}{
		{"good", "GET", "", nil, 200},
		{"Host localhost", "GET", "localhost:" + strings.Split(w.host(), ":")[1], nil, 403},
		{"Host without port", "GET", "127.0.0.1", nil, 403},
		{"DNS rebinding", "GET", "attacker.example:" + strings.Split(w.host(), ":")[1], nil, 403},
		{"Origin", "GET", "", map[string]string{"Origin": "https://attacker.example"}, 403},
		{"null Origin", "GET", "", map[string]string{"Origin": "null"}, 403},
		{"Referer", "GET", "", map[string]string{"Referer": "https://attacker.example/"}, 403},
		{"Sec-Fetch-Site", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"Sec-Fetch-Mode", "GET", "", map[string]string{"Sec-Fetch-Mode": "no-cors"}, 403},
		{"POST", "POST", "", nil, 405},
		{"PUT", "PUT", "", nil, 405},
		{"OPTIONS preflight", "OPTIONS", "", map[string]string{"Access-Control-Request-Method": "GET"}, 405},
		{"HEAD", "HEAD", "", nil, 405},
	}
	for _, tc := range cases {
		resp, body := get(t, c, tc.method, url, tc.host, w.token, tc.hdr)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, body)
		}
		checkAnswer(t, tc.name, resp, body)
		if tc.status == 200 {
			var cr containerCreds
			if err := json.Unmarshal(body, &cr); err != nil || !strings.HasPrefix(cr.AccessKeyID, "ASIA") {
				t.Errorf("%s: %v %q", tc.name, err, body)
			}
		} else if strings.Contains(string(body), "ASIA") {
			t.Errorf("%s: refusal carries credentials", tc.name)
		}
		if tc.status == 405 && resp.Header.Get("Allow") != "GET" {
			t.Errorf("%s: Allow %q", tc.name, resp.Header.Get("Allow"))
		}
	}
}

func TestRevokedTokenRefusedAtOnce(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	ctx := context.Background()
	var env ipc.EnvReply
	if err := call(ctx, w, ipc.OpEnv, ipc.EnvRequest{Profile: "work", Label: "test"}, &env); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{}
	if resp, body := get(t, c, "GET", env.URL, "", env.Token, nil); resp.StatusCode != 200 {
		t.Fatalf("before revocation: %d %s", resp.StatusCode, body)
	}
	// The token file holds exactly the token, readable by its owner only.
	fi, err := os.Stat(env.TokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(env.TokenFile); string(b) != env.Token {
		t.Fatalf("token file holds %d bytes, want the token and no newline", len(b))
	}
	var rr ipc.RevokeReply
	if err := call(ctx, w, ipc.OpRevoke, ipc.RevokeRequest{ID: env.TokenID}, &rr); err != nil {
		t.Fatal(err)
	}
	// The very next request, on the same kept-alive connection, is refused.
	resp, body := get(t, c, "GET", env.URL, "", env.Token, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("after revocation: %d %s", resp.StatusCode, body)
	}
	checkAnswer(t, "revoked", resp, body)
	if !resp.Close {
		t.Errorf("a refused token keeps its connection open")
	}
	if _, err := os.Stat(env.TokenFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file still there: %v", err)
	}
	w.stop()
	var revoked, refused bool
	for _, e := range auditEntries(t, w.audit.String()) {
		revoked = revoked || e.Event == audit.TokenRevoked && e.TokenID == env.TokenID
		refused = refused || e.Event == audit.Fetch && e.Status == 403 && e.TokenID == env.TokenID && e.Reason == "unknown_token"
	}
	if !revoked || !refused {
		t.Errorf("audit lacks the revocation (%v) or the refusal (%v):\n%s", revoked, refused, w.audit)
	}
}

func auditEntries(t *testing.T, log string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestAuditNamesEveryClient(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	ctx := context.Background()
	exe, _ := os.Executable()
	c := &http.Client{}
	const fetches = 5
	for i := 0; i < fetches; i++ {
		if resp, body := get(t, c, "GET", w.base+CredentialsPath+"admin", "", w.token, nil); resp.StatusCode != 200 {
			t.Fatalf("fetch: %d %s", resp.StatusCode, body)
		}
	}
	var cp ipc.CredentialsReply
	if err := call(ctx, w, ipc.OpCredentials, ipc.CredentialsRequest{Profile: "work"}, &cp); err != nil {
		t.Fatal(err)
	}
	var env ipc.EnvReply
	if err := call(ctx, w, ipc.OpEnv, ipc.EnvRequest{Profile: "work", Label: "mfad env (pid 1)"}, &env); err != nil {
		t.Fatal(err)
	}
	if err := call(ctx, w, ipc.OpRevoke, ipc.RevokeRequest{ID: env.TokenID}, new(ipc.RevokeReply)); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, c, "GET", w.base+CredentialsPath+"work", "", env.Token, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("revoked token: %d", resp.StatusCode)
	}
	// Every connection is looked up while this process still holds it:
	// wait for the first lines, then stop, which writes the counts.
	testenv.WaitFor(t, "the audit lines", func() bool {
		return strings.Count(w.audit.String(), `"status":200`) == 2 && strings.Contains(w.audit.String(), "unknown_token")
	})
	w.stop()
	log := w.audit.String()
	var ok200, issued, revoked, daemonTok, cpLine, refused int
	for _, e := range auditEntries(t, log) {
		switch {
		case (e.Event == audit.Fetch || e.Event == audit.Fetches) && e.Via == "endpoint" && e.Status == 200:
			ok200 += int(max(e.Count, 1))
			if e.Profile != "admin" || e.PID != os.Getpid() || e.Exe != exe || e.UID == nil || *e.UID != os.Getuid() || e.TokenID == "" {
				t.Errorf("fetch line %+v: want pid %d exe %s", e, os.Getpid(), exe)
			}
		case e.Event == audit.Fetch && e.Via == "credential-process":
			cpLine++
			if e.Profile != "work" || e.PID != os.Getpid() || e.Exe != exe || e.PPID != os.Getppid() || e.ParentExe == "" {
				t.Errorf("credential-process line %+v", e)
			}
		case e.Event == audit.Fetch && e.Status == 403:
			refused++
			if e.TokenID != env.TokenID || e.Reason != "unknown_token" || e.PID != os.Getpid() {
				t.Errorf("refusal line %+v", e)
			}
		case e.Event == audit.TokenIssued && e.TokenKind == TokenDaemon:
			daemonTok++
			if e.PID != os.Getpid() {
				t.Errorf("daemon token line %+v", e)
			}
		case e.Event == audit.TokenIssued && e.TokenID == env.TokenID:
			issued++
			if e.PID != os.Getpid() || e.Label != "mfad env (pid 1)" || e.Profile != "work" || e.TokenKind != TokenEnv {
				t.Errorf("issue line %+v", e)
			}
		case e.Event == audit.TokenRevoked && e.TokenID == env.TokenID:
			revoked++
		}
	}
	if ok200 != fetches || cpLine != 1 || refused != 1 || daemonTok != 1 || issued != 1 || revoked != 1 {
		t.Errorf("audit counts: %d fetches, %d credential-process, %d refused, %d daemon token, %d issued, %d revoked:\n%s",
			ok200, cpLine, refused, daemonTok, issued, revoked, log)
	}
	testenv.AssertNoSecret(t, "audit log", log, w.e.Secrets(w.token, env.Token, cp.SecretAccessKey, cp.SessionToken)...)
	testenv.AssertNoSecret(t, "daemon log", w.e.Log.String(), w.e.Secrets(w.token, env.Token, cp.SecretAccessKey, cp.SessionToken)...)
}

// otherLast returns s with its last character changed.
func otherLast(s string) string {
	if strings.HasSuffix(s, "A") {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

// TestBadTokenFloodDoesNotDelayGoodClients floods the endpoint with 10,000
// requests carrying missing or wrong tokens, from many goroutines, while
// good clients keep fetching: an AWS SDK endpoint provider on a kept-alive
// connection (it gives up after 5 s) and a client opening a connection per
// request. Both must stay well within their timeout.
func TestBadTokenFloodDoesNotDelayGoodClients(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the endpoint")
	}
	w := newSecWorld(t)
	w.run()
	url := w.base + CredentialsPath + "admin"
	var env ipc.EnvReply
	if err := call(context.Background(), w, ipc.OpEnv, ipc.EnvRequest{Profile: "admin"}, &env); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"",
		"Bearer nothing",
		otherLast(w.token), // the daemon token's id, a wrong secret
		tokenPrefix + "0123456789abcdef." + w.token[len(w.token)-tokenSecretLen:], // an unknown id
		tokenPrefix + "G" + w.token[len(tokenPrefix)+1:],                          // not an id
	}
	const total, workers = 10000, 64
	var sent, refused, other atomic.Int64
	var floodDone atomic.Bool
	var fwg sync.WaitGroup
	floodTransport := &http.Transport{MaxIdleConnsPerHost: workers}
	defer floodTransport.CloseIdleConnections()
	flooder := &http.Client{Transport: floodTransport, Timeout: 30 * time.Second}
	start := time.Now()
	for i := 0; i < workers; i++ {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for {
				n := sent.Add(1)
				if n > total {
					return
				}
				req, _ := http.NewRequest("GET", url, nil)
				if tok := bad[n%int64(len(bad))]; tok != "" {
					req.Header.Set("Authorization", tok)
				}
				resp, err := flooder.Do(req)
				if err != nil {
					if other.Add(1) == 1 {
						t.Logf("flood request: %v", err)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 403 {
					refused.Add(1)
				} else if other.Add(1) == 1 {
					t.Logf("flood request: status %d", resp.StatusCode)
				}
			}
		}()
	}
	go func() {
		fwg.Wait()
		floodDone.Store(true)
	}()

	// Good clients, until the flood is over.
	var sdk, fresh testenv.Latencies
	sdkHTTP := &http.Client{Transport: &http.Transport{}} // kept alive, as the SDK's own
	var gwg sync.WaitGroup
	var goodErr atomic.Value
	gwg.Add(2)
	go func() {
		defer gwg.Done()
		for !floodDone.Load() {
			p := endpointcreds.New(url, func(o *endpointcreds.Options) {
				o.AuthorizationToken = w.token
				o.HTTPClient = sdkHTTP
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			t0 := time.Now()
			creds, err := p.Retrieve(ctx)
			cancel()
			sdk.Add(time.Since(t0))
			if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA") {
				goodErr.Store(fmt.Errorf("SDK provider: %v", err))
				return
			}
		}
	}()
	go func() {
		defer gwg.Done()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		for !floodDone.Load() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", env.Token)
			t0 := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				goodErr.Store(fmt.Errorf("fresh connection: %v", err))
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fresh.Add(time.Since(t0))
			if resp.StatusCode != 200 {
				goodErr.Store(fmt.Errorf("fresh connection: status %d", resp.StatusCode))
				return
			}
		}
	}()
	gwg.Wait()
	took := time.Since(start)
	if err, _ := goodErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if refused.Load() != total || other.Load() != 0 {
		t.Fatalf("flood: %d refused, %d other answers or errors, want %d refused", refused.Load(), other.Load(), total)
	}
	for _, c := range []struct {
		name string
		l    *testenv.Latencies
	}{{"SDK provider, kept-alive connection", &sdk}, {"new connection per request", &fresh}} {
		n, p50, p99, max := c.l.Summary()
		t.Logf("%s: %d requests during a %d-request flood of %v: p50 %v, p99 %v, max %v", c.name, n, total, took.Round(time.Millisecond), p50, p99, max)
		if n == 0 || max > time.Second {
			t.Errorf("%s: %d requests, slowest %v: want every one well under the SDK's 5 s timeout", c.name, n, max)
		}
	}
	// One warning (the fake clock does not move), with a count, never a token.
	log := w.e.Log.String()
	if n := strings.Count(log, "refused credentials requests with a missing or invalid token"); n != 1 {
		t.Errorf("%d warnings about bad tokens, want 1 (at most one a minute)", n)
	}
	testenv.AssertNoSecret(t, "daemon log", log, w.e.Secrets(w.token, env.Token)...)
	// The audit log counts every refusal, in a few lines.
	w.stop()
	var counted, lines int64
	for _, e := range auditEntries(t, w.audit.String()) {
		switch {
		case (e.Event == audit.Fetch || e.Event == audit.Fetches) && e.Status == 403:
			lines++
			counted += max(e.Count, 1)
			// pid 0: not looked up, or the flooder had closed its
			// connection before it could be.
			if e.PID != 0 && e.PID != os.Getpid() {
				t.Errorf("refusal line %+v", e)
			}
		case e.Event == audit.Dropped:
			t.Errorf("audit dropped %d entries", e.Count)
		}
	}
	if counted != total || lines > 100 {
		t.Errorf("audit: %d refusals counted in %d lines, want %d in a few", counted, lines, total)
	}
	testenv.AssertNoSecret(t, "audit log", w.audit.String(), w.e.Secrets(w.token, env.Token)...)
}

// TestBadTokenWarnings checks the warning's pace: the first at once, then
// at most one a minute with the count since the last.
func TestBadTokenWarnings(t *testing.T) {
	w := newSecWorld(t)
	w.d.bad.delay = 0
	h := w.d.NewEndpoint("127.0.0.1:9")
	secret := "mfad.0123456789abcdef." + strings.Repeat("s", tokenSecretLen)
	refuse := func() {
		r := originRequest("127.0.0.1:9", CredentialsPath+"work")
		r.Header.Set("Authorization", secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 403 || rec.Header().Get("Connection") != "close" {
			t.Fatalf("bad token: %d %v", rec.Code, rec.Header())
		}
	}
	warnings := func() []string {
		var out []string
		for _, l := range strings.Split(w.e.Log.String(), "\n") {
			if strings.Contains(l, "missing or invalid token") {
				out = append(out, l)
			}
		}
		return out
	}
	refuse()
	if ws := warnings(); len(ws) != 1 || !strings.Contains(ws[0], "count=1 ") || !strings.Contains(ws[0], "level=WARN") {
		t.Fatalf("first warning: %q", ws)
	}
	refuse()
	refuse()
	w.e.Clock.Advance(59 * time.Second)
	if ws := warnings(); len(ws) != 1 {
		t.Fatalf("warned again within a minute: %q", ws)
	}
	w.e.Clock.Advance(time.Second)
	if ws := warnings(); len(ws) != 2 || !strings.Contains(ws[1], "count=2 ") || !strings.Contains(ws[1], "total=3 ") {
		t.Fatalf("second warning: %q", ws)
	}
	// Quiet for over a minute: the next one is reported at once.
	w.e.Clock.Advance(2 * time.Minute)
	refuse()
	if ws := warnings(); len(ws) != 3 || !strings.Contains(ws[2], "count=1 ") {
		t.Fatalf("third warning: %q", ws)
	}
	testenv.AssertNoSecret(t, "daemon log", w.e.Log.String(), secret, secret[len(secret)-tokenSecretLen:])
}

func TestBadTokenBudget(t *testing.T) {
	w := newSecWorld(t)
	w.d.bad.delay = time.Hour // a held-back request waits for its client to give up
	h := w.d.NewEndpoint("127.0.0.1:9")
	// Fill the budget with requests that wait.
	var held sync.WaitGroup
	cancels := make([]context.CancelFunc, badTokenSlots)
	for i := range cancels {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		held.Add(1)
		go func() {
			defer held.Done()
			r := originRequest("127.0.0.1:9", CredentialsPath+"work").WithContext(ctx)
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	testenv.WaitFor(t, "the budget to fill", func() bool { return len(w.d.bad.slots) == badTokenSlots })
	// Beyond the budget, refusals are answered at once...
	r := originRequest("127.0.0.1:9", CredentialsPath+"work")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 403 {
		t.Fatalf("over budget: %d", rec.Code)
	}
	// ...and a good token never waits on the budget.
	r = originRequest("127.0.0.1:9", CredentialsPath+"work")
	tok, err := w.d.tokens.issue(TokenEnv, "work", "", w.e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", tok.Value)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("good token while the budget is full: %d %s", rec.Code, rec.Body)
	}
	for _, c := range cancels {
		c()
	}
	held.Wait()
	if len(w.d.bad.slots) != 0 {
		t.Fatal("slots not given back")
	}
}

func TestTokenExplain(t *testing.T) {
	r := newTokenRegistry()
	tok, err := r.issue(TokenEnv, "work", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Value[len(tok.Value)-tokenSecretLen:]
	for value, want := range map[string][2]string{
		"":                         {"", "no_token"},
		"Bearer x":                 {"", "malformed_token"},
		tok.Value + "x":            {"", "malformed_token"},
		strings.ToUpper(tok.Value): {"", "malformed_token"},
		tokenPrefix + "0123456789abcdef." + secret:       {"0123456789abcdef", "unknown_token"},
		tok.Value[:len(tok.Value)-1] + "!":               {tok.ID, "wrong_secret"},
		tokenPrefix + secret[:tokenIDLen] + "." + secret: {"", "malformed_token"},
	} {
		id, reason := r.explain(value)
		if id != want[0] || reason != want[1] {
			t.Errorf("explain(%q) = %q %q, want %q %q", value, id, reason, want[0], want[1])
		}
		if strings.Contains(id, secret[:8]) {
			t.Errorf("explain(%q) returned part of the secret", value)
		}
	}
}

// TestRefusalsCounted checks that a flood of requests without a valid
// token is counted in a line per kind of refusal, not a line per request.
func TestRefusalsCounted(t *testing.T) {
	w := newSecWorld(t)
	w.d.bad.delay = 0
	h := w.d.NewEndpoint("127.0.0.1:9")
	do := func(n int, host string) {
		for i := 0; i < n; i++ {
			r := originRequest(host, CredentialsPath+"work")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	}
	do(100, "127.0.0.1:9") // bad tokens
	do(50, "evil:9")       // wrong Host
	testenv.WaitFor(t, "the first lines", func() bool {
		return strings.Count(w.audit.String(), "\n") >= 2
	})
	w.e.Clock.Advance(audit.Quiet) // the requests have stopped: the counts are written
	testenv.WaitFor(t, "the counts", func() bool { return strings.Count(w.audit.String(), `"event":"fetches"`) == 2 })
	do(3, "evil:9")
	w.d.Close()
	lines := 0
	reasons := map[string]int64{}
	for _, e := range auditEntries(t, w.audit.String()) {
		if e.Event == audit.Fetch || e.Event == audit.Fetches {
			lines++
			reasons[e.Reason] += max(e.Count, 1)
		}
	}
	if lines != 5 || reasons["no_token"] != 100 || reasons["wrong_host_or_browser"] != 53 {
		t.Fatalf("%d lines, requests by reason %v; want 5 lines, 100 no_token and 53 wrong_host_or_browser:\n%s", lines, reasons, w.audit)
	}
}
