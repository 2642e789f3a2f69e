package daemon

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// originRequest is a GET request for path as SDKs send it: an origin-form
// request line, and Host.
func originRequest(host, path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Host = host
	return r
}

// rawRequest sends req on a new connection to addr and returns the answer.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestNoTokenOneAnswer: without a valid token, a request learns nothing —
// whether the profile exists, the path is served, the method allowed or
// the Host right — and the connection is closed.
func TestNoTokenOneAnswer(t *testing.T) {
	w := newSecWorld(t)
	w.d.bad.delay = 0
	w.run()
	host := w.host()
	get := func(method, path, hostHdr, auth string) string {
		req := method + " " + path + " HTTP/1.1\r\nHost: " + hostHdr + "\r\n"
		if auth != "" {
			req += "Authorization: " + auth + "\r\n"
		}
		return req + "\r\n"
	}
	wrongSecret := w.token[:len(w.token)-4] + "AAAA"
	if wrongSecret == w.token {
		wrongSecret = w.token[:len(w.token)-4] + "BBBB"
	}
	cases := map[string]string{
		"existing profile":       get("GET", CredentialsPath+"work", host, ""),
		"missing profile":        get("GET", CredentialsPath+"no-such-profile", host, ""),
		"other path":             get("GET", "/x", host, ""),
		"POST":                   get("POST", CredentialsPath+"work", host, ""),
		"wrong Host":             get("GET", CredentialsPath+"work", "evil.example", ""),
		"absolute form":          get("GET", "http://"+host+CredentialsPath+"nope", "evil.example", ""),
		"malformed token":        get("GET", CredentialsPath+"nope", host, "Bearer x"),
		"wrong secret, existing": get("GET", CredentialsPath+"work", host, wrongSecret),
		"wrong secret, missing":  get("GET", CredentialsPath+"nope", host, wrongSecret),
	}
	var first string
	for name, req := range cases {
		resp, body := rawRequest(t, host, req)
		// net/http moves "Connection: close" from Header to Close.
		if !resp.Close {
			t.Errorf("%s: no Connection: close", name)
		}
		resp.Header.Del("Date")
		got := resp.Status + "\n" + headerString(resp.Header) + "\n" + string(body)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s", name, got)
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("%s: answer differs:\n%s\nfrom:\n%s", name, got, first)
		}
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	h.Write(&b)
	return b.String()
}

// TestRefusalsCloseTheConnection: a request with a valid token that is
// refused is answered with Connection: close, and so is an absolute-form
// request line, whose authority cannot stand in for a wrong Host.
func TestRefusalsCloseTheConnection(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	host := w.host()
	auth := "Authorization: " + w.token + "\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		{"served", "GET " + CredentialsPath + "work HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", 200},
		{"absolute form, wrong Host", "GET http://" + host + CredentialsPath + "work HTTP/1.1\r\nHost: evil.example\r\n" + auth + "\r\n", 403},
		{"absolute form, right Host", "GET http://" + host + CredentialsPath + "work HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", 403},
		{"wrong Host", "GET " + CredentialsPath + "work HTTP/1.1\r\nHost: evil.example\r\n" + auth + "\r\n", 403},
		{"browser", "GET " + CredentialsPath + "work HTTP/1.1\r\nHost: " + host + "\r\nOrigin: https://evil.example\r\n" + auth + "\r\n", 403},
		{"missing profile", "GET " + CredentialsPath + "nope HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", 404},
		{"POST", "POST " + CredentialsPath + "work HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\n" + auth + "\r\n", 405},
	}
	for _, tc := range cases {
		resp, body := rawRequest(t, host, tc.req)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		if resp.Close != (tc.status != 200) {
			t.Errorf("%s: Connection: close is %v", tc.name, resp.Close)
		}
		if tc.status != 200 && strings.Contains(string(body), "ASIA") {
			t.Errorf("%s: a refusal carries credentials", tc.name)
		}
	}
}
