package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/testenv"
)

// auditedClient is what TestHelperAuditedClient prints.
type auditedClient struct {
	PID         int
	Exe         string
	AccessKeyID string
	Token       string
	Audited     bool
}

// readAudit parses an audit log.
func readAudit(t *testing.T, path string) []audit.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestHelperAuditedClient is not a test: run by `mfad exec`, it fetches
// credentials with the AWS SDK for Go, then, like a program that goes on
// working, keeps running (and keeps its connection) until the audit log
// holds its fetch, for at most 10 seconds.
func TestHelperAuditedClient(t *testing.T) {
	if os.Getenv("MFAD_E2E_AUDIT_HELPER") != "1" {
		t.Skip("helper process for the end-to-end tests")
	}
	ctx := context.Background()
	_, creds := sdkCredentials(ctx)
	exe, _ := os.Executable()
	out := auditedClient{PID: os.Getpid(), Exe: exe, AccessKeyID: creds.AccessKeyID, Token: os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")}
	want := fmt.Sprintf(`"pid":%d,`, os.Getpid())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !out.Audited; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(os.Getenv("MFAD_AUDIT_LOG"))
		out.Audited = strings.Contains(string(b), want)
	}
	json.NewEncoder(os.Stdout).Encode(out)
	os.Exit(0)
}

func TestAuditNamesTheClientProcess(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	auditLog := filepath.Join(w.home, "audit.log")

	exe, _ := os.Executable()
	out := w.must(nil, "exec", "--profile", "work", "--", "env", "MFAD_E2E_AUDIT_HELPER=1", exe, "-test.run=^TestHelperAuditedClient$")
	var c auditedClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("helper printed %q: %v", out, err)
	}
	if !c.Audited || !strings.HasPrefix(c.AccessKeyID, "ASIA") {
		t.Fatalf("helper: %+v", c)
	}
	// credential-process: the client is the mfad CLI; its parent, this test.
	var cp struct{ SecretAccessKey, SessionToken string }
	if err := json.Unmarshal([]byte(w.must(nil, "credential-process", "--profile", "admin")), &cp); err != nil {
		t.Fatal(err)
	}

	var fetch, cpLine *audit.Entry
	var execToken string
	revoked := func() bool {
		for _, e := range readAudit(t, auditLog) {
			if e.Event == audit.TokenRevoked && e.TokenID == execToken {
				return true
			}
		}
		return false
	}
	// Audit lines are written asynchronously: wait for both fetches' lines.
	testenv.WaitFor(t, "the fetches' audit lines", func() bool {
		fetch, cpLine, execToken = nil, nil, ""
		for _, e := range readAudit(t, auditLog) {
			switch {
			case e.Event == audit.Fetch && e.PID == c.PID:
				fetch = &e
			case e.Event == audit.Fetch && e.Via == "credential-process":
				cpLine = &e
			case e.Event == audit.TokenIssued && e.TokenKind == daemon.TokenExec:
				execToken = e.TokenID
			}
		}
		return fetch != nil && cpLine != nil
	})
	for _, e := range readAudit(t, auditLog) {
		if e.Event == audit.TokenIssued && e.TokenKind == daemon.TokenExec && (e.Exe != w.bin || e.Profile != "work") {
			t.Errorf("exec token issued to %+v, want %s", e, w.bin)
		}
	}
	if fetch == nil {
		t.Fatalf("no audit line with the helper's pid %d:\n%s", c.PID, must(os.ReadFile(auditLog)))
	}
	if fetch.Exe != c.Exe || fetch.Status != 200 || fetch.Profile != "work" || fetch.TokenID != execToken || fetch.TokenID == "" ||
		fetch.UID == nil || *fetch.UID != os.Getuid() {
		t.Errorf("fetch line %+v: want exe %s, status 200, profile work, the exec token %s", *fetch, c.Exe, execToken)
	}
	if cpLine == nil || cpLine.Exe != w.bin || cpLine.PPID != os.Getpid() || cpLine.ParentExe != exe || cpLine.Profile != "admin" {
		t.Errorf("credential-process line %+v: want exe %s, parent %d (%s)", cpLine, w.bin, os.Getpid(), exe)
	}
	// The exec token is revoked when `mfad exec` has returned.
	testenv.WaitFor(t, "the exec token's revocation in the audit log", revoked)

	// mfad audit shows the same, as a table and as JSON.
	table := w.must(nil, "audit")
	if !strings.Contains(table, strconv.Itoa(c.PID)) || !strings.Contains(table, c.Exe) || !strings.Contains(table, "token_revoked") {
		t.Errorf("mfad audit:\n%s", table)
	}
	raw := w.must(nil, "audit", "--json")
	if raw != string(must(os.ReadFile(auditLog))) {
		t.Errorf("mfad audit --json differs from the log")
	}
	secrets := append(append([]string{}, w.secrets...), c.Token, cp.SecretAccessKey, cp.SessionToken)
	w.stopDaemon()
	testenv.AssertNoSecret(t, "audit log", raw, secrets...)
	testenv.AssertNoSecret(t, "mfad audit", table, secrets...)
	testenv.AssertNoSecret(t, "daemon log", w.logs.String(), secrets...)
}

func must(b []byte, err error) []byte {
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// TestRevokedTokenRefusedAtOnce revokes a token with `mfad tokens revoke`:
// the very next request with it is refused.
func TestRevokedTokenRefusedAtOnce(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	env := w.envVars("work")
	url, tok, file := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
	fetch := func() int {
		code, err := endpointStatus(url, tok)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := fetch(); code != 200 {
		t.Fatalf("before revocation: %d", code)
	}
	var list struct {
		Tokens []struct{ ID, Kind, Profile string }
	}
	if err := json.Unmarshal([]byte(w.must(nil, "tokens", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, tk := range list.Tokens {
		if tk.Kind == "env" && strings.Contains(tok, "."+tk.ID+".") {
			id = tk.ID
		}
	}
	if id == "" {
		t.Fatalf("the env token is not listed: %+v", list)
	}
	if out := w.must(nil, "tokens", "revoke", id); !strings.Contains(out, "Revoked token "+id) {
		t.Fatalf("revoke said %q", out)
	}
	if code := fetch(); code != 403 {
		t.Fatalf("the request right after revocation: %d, want 403", code)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after revocation: %v", err)
	}
	if out := w.must(nil, "tokens", "list"); strings.Contains(out, id) {
		t.Errorf("revoked token still listed:\n%s", out)
	}
}

// TestEndpointRefusesBrowsers sends the daemon, with a valid token, what a
// web page could make a browser send.
func TestEndpointRefusesBrowsers(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	env := w.envVars("work")
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	port := url[strings.LastIndex(url, ":")+1 : strings.Index(url, "/v1/")]
	for _, tc := range []struct {
		name, method, host string
		hdr                map[string]string
		status             int
	}{
		{"good", "GET", "", nil, 200},
		{"DNS rebinding", "GET", "rebind.attacker.example:" + port, nil, 403},
		{"localhost", "GET", "localhost:" + port, nil, 403},
		{"Origin", "GET", "", map[string]string{"Origin": "https://attacker.example"}, 403},
		{"Sec-Fetch-Site", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"POST", "POST", "", nil, 405},
	} {
		req, _ := http.NewRequest(tc.method, url, nil)
		req.Header.Set("Authorization", tok)
		if tc.host != "" {
			req.Host = tc.host
		}
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
			t.Errorf("%s: %d %q %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: CORS header %s", tc.name, k)
			}
		}
		if tc.status != 200 && strings.Contains(string(body), "ASIA") {
			t.Errorf("%s: a refusal carries credentials", tc.name)
		}
	}
}
