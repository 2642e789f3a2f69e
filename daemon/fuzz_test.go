package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/mfacode"
)

// fuzzHost is the address the fuzzed endpoint answers for.
const fuzzHost = "127.0.0.1:4711"

// Token choices of FuzzEndpoint.
const (
	authNone    = iota // no Authorization header
	authDaemon         // the daemon token: every profile
	authWork           // a token for profile work only
	authRevoked        // a revoked token
	authRaw            // the fuzzed string
	authSuffix         // the daemon token followed by the fuzzed string
	authChoices
)

// FuzzEndpoint feeds the credentials endpoint fuzzed methods, paths, Host
// headers, tokens and browser headers, on a daemon whose profiles work and
// admin are unlocked. It must never panic; it answers 200 exactly when the
// method is GET, Host is the listen address, no browser header is present,
// the path names a profile and the token is valid for it, and then with
// that profile's credentials; every answer is JSON, with Content-Type
// application/json and no CORS header; a refusal carries no credentials.
func FuzzEndpoint(f *testing.F) {
	e := testenv.New(f)
	d, err := New(Options{Config: e.Config, Store: e.Store, Broker: e.Broker(), Clock: e.Clock, Logger: e.Logger, Audit: io.Discard,
		Guard: mfacode.NewOnceGuard(e.Clock.Now, func(ctx context.Context, dur time.Duration) error {
			e.Clock.Advance(dur)
			return nil
		})})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	d.bad.delay = 0
	if _, err := d.Unlock(context.Background(), "admin", e.Code()); err != nil {
		f.Fatal(err)
	}
	now := e.Clock.Now()
	daemonTok, err1 := d.tokens.issue(TokenDaemon, "", "daemon", now)
	workTok, err2 := d.tokens.issue(TokenEnv, "work", "fuzz", now)
	revoked, err3 := d.tokens.issue(TokenEnv, "work", "fuzz", now)
	if err1 != nil || err2 != nil || err3 != nil {
		f.Fatal(err1, err2, err3)
	}
	d.tokens.revoke(revoked.ID)
	creds := map[string][]byte{}
	for _, p := range []string{"work", "admin"} {
		snap := d.t().profiles[p].served.Load()
		if snap == nil {
			f.Fatalf("profile %s is not served", p)
		}
		creds[p] = snap.body
	}
	var secrets []string
	for _, p := range []string{"work", "admin"} {
		c := d.t().profiles[p].served.Load().creds
		secrets = append(secrets, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	h := d.NewEndpoint(fuzzHost)

	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authDaemon), "", uint8(0), "")
	f.Add("GET", "/v1/credentials/admin", fuzzHost, uint8(authWork), "", uint8(0), "")
	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authWork), "", uint8(1), "https://example.com")
	f.Add("POST", "/v1/credentials/work", fuzzHost, uint8(authDaemon), "", uint8(0), "")
	f.Add("GET", "/v1/credentials/work", "localhost:4711", uint8(authDaemon), "", uint8(0), "")
	f.Add("GET", "/v1/credentials/", fuzzHost, uint8(authDaemon), "", uint8(0), "")
	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authRaw), "mfad.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uint8(0), "")
	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authSuffix), " ", uint8(0), "")
	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authDaemon), "", uint8(32), "sec-fetch-user")
	f.Add("GET", "/v1/credentials/work", fuzzHost, uint8(authRevoked), "", uint8(0), "")
	f.Fuzz(func(t *testing.T, method, path, host string, auth uint8, raw string, browser uint8, extra string) {
		hdr := http.Header{}
		valid := map[string]bool{}
		switch auth % authChoices {
		case authDaemon:
			hdr["Authorization"] = []string{daemonTok.Value}
			valid["work"], valid["admin"] = true, true
		case authWork:
			hdr["Authorization"] = []string{workTok.Value}
			valid["work"] = true
		case authRevoked:
			hdr["Authorization"] = []string{revoked.Value}
		case authRaw:
			hdr["Authorization"] = []string{raw}
		case authSuffix:
			hdr["Authorization"] = []string{daemonTok.Value + raw}
			valid["work"], valid["admin"] = raw == "", raw == ""
		}
		for i, k := range []string{"Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest"} {
			if browser&(1<<i) != 0 {
				hdr[k] = []string{extra}
			}
		}
		if browser&32 != 0 && extra != "" {
			k := textproto.CanonicalMIMEHeaderKey(extra)
			hdr[k] = append(hdr[k], "1")
		}
		fromBrowser := false
		for k := range hdr {
			fromBrowser = fromBrowser || k == "Origin" || k == "Referer" || strings.HasPrefix(k, "Sec-Fetch-")
		}
		r := (&http.Request{Method: method, URL: &url.URL{Path: path}, Host: host, Header: hdr,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "127.0.0.1:40000"}).WithContext(context.Background())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := rec.Result()
		body := rec.Body.Bytes()

		if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Fatalf("CORS header %s", k)
			}
		}
		if !json.Valid(body) {
			t.Fatalf("body is not JSON: %q", body)
		}
		profile, isCreds := strings.CutPrefix(path, CredentialsPath)
		want200 := method == "GET" && host == fuzzHost && !fromBrowser && isCreds && valid[profile]
		switch {
		case want200 && resp.StatusCode != 200:
			t.Fatalf("status %d for a good request: %s", resp.StatusCode, body)
		case !want200 && resp.StatusCode == 200:
			t.Fatalf("served credentials: method %q path %q host %q token choice %d browser %v", method, path, host, auth%authChoices, fromBrowser)
		case resp.StatusCode == 200:
			if !bytes.Equal(body, creds[profile]) {
				t.Fatalf("served other credentials than profile %s's", profile)
			}
		default:
			if s := resp.StatusCode; s != 403 && s != 404 && s != 405 {
				t.Fatalf("status %d: %s", s, body)
			}
			// Without a valid token, every answer is the same 403.
			if anyValid := valid["work"] || valid["admin"]; anyValid && (method != "GET") != (resp.StatusCode == 405) ||
				!anyValid && resp.StatusCode != 403 {
				t.Fatalf("method %q with a valid token %v answered %d", method, anyValid, resp.StatusCode)
			}
			for _, s := range secrets {
				if bytes.Contains(body, []byte(s)) {
					t.Fatalf("a refusal carries credentials: %s", body)
				}
			}
		}
	})
}
