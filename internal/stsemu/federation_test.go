package stsemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// getSigninToken calls the federation endpoint and returns the status and
// the token, if any.
func (e *env) getSigninToken(c *types.Credentials, duration string) (int, string) {
	e.t.Helper()
	session, _ := json.Marshal(map[string]string{"sessionId": *c.AccessKeyId, "sessionKey": *c.SecretAccessKey, "sessionToken": *c.SessionToken})
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if duration != "" {
		q.Set("SessionDuration", duration)
	}
	resp, err := http.Get(e.srv.URL + stsemu.FederationPath + "?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ SigninToken string }
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out.SigninToken
}

func loginURL(base, token string) string {
	return base + stsemu.FederationPath + "?" + url.Values{"Action": {"login"}, "Issuer": {"https://example.com"},
		"Destination": {"https://console.aws.amazon.com/"}, "SigninToken": {token}}.Encode()
}

func TestFederationEndpoint(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	role := env.srv.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})

	// GetSessionToken credentials cannot sign in to the console.
	s, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{
		SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, env.clock.Now()))})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := env.getSigninToken(s.Credentials, ""); code != http.StatusBadRequest {
		t.Errorf("getSigninToken with GetSessionToken credentials: %d", code)
	}

	// A role assumed from them is role chaining: no SessionDuration.
	c := s.Credentials
	ar, err := env.client(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("console")})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := env.getSigninToken(ar.Credentials, "3600"); code != http.StatusBadRequest {
		t.Errorf("getSigninToken with SessionDuration for a chained role session: %d", code)
	}
	code, token := env.getSigninToken(ar.Credentials, "")
	if code != http.StatusOK || token == "" {
		t.Fatalf("getSigninToken: %d %q", code, token)
	}
	info, ok := env.srv.CheckLoginURL(loginURL(env.srv.URL, token))
	if !ok || info.AccessKeyID != *ar.Credentials.AccessKeyId || !info.ConsoleSessionEnd.Equal(*ar.Credentials.Expiration) {
		t.Fatalf("login URL: %+v %v", info, ok)
	}
	// The URL is valid for 15 minutes.
	env.clock.Advance(15*time.Minute + time.Second)
	if _, ok := env.srv.CheckLoginURL(loginURL(env.srv.URL, token)); ok {
		t.Error("a 15-minute-old sign-in token was accepted")
	}

	// A role assumed with long-term keys may ask for a console session.
	env.srv.AddRole("viewer", stsemu.RoleOptions{})
	lr, err := env.userClient(u).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/viewer"), RoleSessionName: aws.String("console")})
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]int{"899": 400, "43201": 400, "43200": 200} {
		if code, _ := env.getSigninToken(lr.Credentials, d); code != want {
			t.Errorf("SessionDuration %s: %d, want %d", d, code, want)
		}
	}
	// Tampered credentials are refused.
	bad := *lr.Credentials
	bad.SessionToken = aws.String(*bad.SessionToken + "x")
	if code, _ := env.getSigninToken(&bad, ""); code != http.StatusBadRequest {
		t.Errorf("tampered credentials: %d", code)
	}
}
