package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

func unlock(t *testing.T, e *testenv.Env, code string) (*session.Session, error) {
	t.Helper()
	return e.Broker().GetSessionToken(context.Background(), session.UnlockInput{Profile: e.Config.Profiles["work"], Key: e.Key(), Code: code})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestUnlockTakesExpiryFromSTS(t *testing.T) {
	e := testenv.New(t)
	// STS grants what it grants: ask for 12h, and check the expiry is the
	// one in the response, not computed locally.
	s, err := unlock(t, e, e.Code())
	if err != nil {
		t.Fatal(err)
	}
	if want := testenv.Start.Add(12 * time.Hour); !s.Credentials.Expiration.Equal(want) {
		t.Fatalf("expiration %v, want %v", s.Credentials.Expiration, want)
	}
	if !s.MFAAt.Equal(testenv.Start) || s.Kind != session.KindMFA || s.MFASerial != e.User.MFASerial {
		t.Fatalf("session %v", s)
	}
	if !strings.HasPrefix(s.Credentials.AccessKeyID, "ASIA") {
		t.Fatalf("key id %s", s.Credentials.AccessKeyID)
	}
	// The emulator records the session as MFA-authenticated.
	info, ok := e.Emu.SessionInfo(s.Credentials.AccessKeyID)
	if !ok || !info.MFAAuthenticated {
		t.Fatalf("emulator session info %+v %v", info, ok)
	}
	// The duration actually granted wins even when shorter than asked.
	p := *e.Config.Profiles["work"]
	p.SessionDuration = 15 * time.Minute
	s2, err := e.Broker().GetSessionToken(context.Background(), session.UnlockInput{Profile: &p, Key: e.Key(), Code: e.NextCode()})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Credentials.Expiration.Sub(s2.MFAAt); got != 15*time.Minute {
		t.Fatalf("granted %v", got)
	}
}

func TestUnlockErrors(t *testing.T) {
	e := testenv.New(t)
	good := e.Code()
	if _, err := unlock(t, e, good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		mutate  func(in *session.UnlockInput)
		code    string
		apiCode string
		msg     string
	}{
		{name: "reused code", code: good, apiCode: "AccessDenied", msg: "already used"},
		{name: "wrong code", code: wrongCode(good), apiCode: "AccessDenied", msg: "wrong"},
		{name: "five digits", code: "12345", msg: "exactly 6 digits"},
		{name: "letters", code: "12a456", msg: "exactly 6 digits"},
		{name: "unknown serial", mutate: func(in *session.UnlockInput) {
			p := *in.Profile
			p.MFASerial = "arn:aws:iam::123456789012:mfa/mallory"
			in.Profile = &p
		}, apiCode: "AccessDenied"},
		{name: "malformed serial", mutate: func(in *session.UnlockInput) {
			p := *in.Profile
			p.MFASerial = "bad serial!"
			in.Profile = &p
		}, msg: "mfa"},
		{name: "wrong secret", mutate: func(in *session.UnlockInput) {
			in.Key.SecretAccessKey = strings.Repeat("x", 40)
		}, apiCode: "SignatureDoesNotMatch", msg: "mfad add"},
		{name: "unknown key", mutate: func(in *session.UnlockInput) {
			in.Key.AccessKeyID = "AKIA" + strings.Repeat("Z", 16)
		}, apiCode: "InvalidClientTokenId", msg: "mfad add"},
		{name: "duration too short", mutate: func(in *session.UnlockInput) {
			p := *in.Profile
			p.SessionDuration = 899 * time.Second
			in.Profile = &p
		}, msg: "900 to 129600"},
		{name: "duration too long", mutate: func(in *session.UnlockInput) {
			p := *in.Profile
			p.SessionDuration = 129601 * time.Second
			in.Profile = &p
		}, msg: "900 to 129600"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := c.code
			if code == "" {
				code = e.NextCode()
			}
			in := session.UnlockInput{Profile: e.Config.Profiles["work"], Key: e.Key(), Code: code}
			if c.mutate != nil {
				c.mutate(&in)
			}
			before := e.Count("")
			_, err := e.Broker().GetSessionToken(context.Background(), in)
			if err == nil {
				t.Fatal("no error")
			}
			if c.apiCode != "" && apiCode(err) != c.apiCode {
				t.Fatalf("error code %q, want %q: %v", apiCode(err), c.apiCode, err)
			}
			if c.apiCode == "" && e.Count("") != before {
				t.Fatalf("invalid input reached STS: %v", err)
			}
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
			testenv.AssertNoSecret(t, "error", err.Error(), e.Secrets(code)...)
		})
	}
}

func wrongCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestCallWithCodeIsNeverRetried(t *testing.T) {
	e := testenv.New(t)
	e.Emu.InjectFault(stsemu.Fault{Action: "GetSessionToken", Code: "Throttling", Message: "Rate exceeded", Times: 3})
	_, err := unlock(t, e, e.Code())
	if apiCode(err) != "Throttling" {
		t.Fatalf("want Throttling, got %v", err)
	}
	if n := e.Count("GetSessionToken"); n != 1 {
		t.Fatalf("GetSessionToken sent %d times, want exactly once", n)
	}
}

func TestCallWithoutCodeRetriesThrottlingAnd5xx(t *testing.T) {
	e := testenv.New(t)
	mfa, err := unlock(t, e, e.Code())
	if err != nil {
		t.Fatal(err)
	}
	e.Emu.InjectFault(stsemu.Fault{Action: "AssumeRole", Code: "Throttling", Message: "Rate exceeded", Times: 2})
	e.Emu.InjectFault(stsemu.Fault{Action: "AssumeRole", Status: 503, Code: "ServiceUnavailable", Times: 1})
	rs, err := e.Broker().AssumeRole(context.Background(), e.Config.Profiles["admin"], mfa)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Count("AssumeRole"); n != 4 {
		t.Fatalf("AssumeRole sent %d times, want 4 (3 failures, 1 success)", n)
	}
	if rs.Kind != session.KindRole || !rs.MFAAt.Equal(mfa.MFAAt) || rs.RoleARN != e.RoleARN {
		t.Fatalf("role session %v", rs)
	}
	if want := testenv.Start.Add(time.Hour); !rs.Credentials.Expiration.Equal(want) {
		t.Fatalf("role expiration %v want %v", rs.Credentials.Expiration, want)
	}
	// The role session carries the MFA session's authentication time.
	info, _ := e.Emu.SessionInfo(rs.Credentials.AccessKeyID)
	if !info.MFAAuthenticated || !info.MFAAuthTime.Equal(mfa.MFAAt) {
		t.Fatalf("role session MFA info %+v", info)
	}
}

func TestChainedRoleOverOneHourRefusedLocally(t *testing.T) {
	e := testenv.New(t)
	mfa, err := unlock(t, e, e.Code())
	if err != nil {
		t.Fatal(err)
	}
	p := *e.Config.Profiles["admin"]
	p.RoleDuration = time.Hour + time.Second
	before := e.Count("")
	_, err = e.Broker().AssumeRole(context.Background(), &p, mfa)
	if err == nil || !strings.Contains(err.Error(), "1-hour limit") {
		t.Fatalf("want a local 1-hour limit error, got %v", err)
	}
	if e.Count("") != before {
		t.Fatal("the request reached STS")
	}
}

func TestCacheRoundTripAndExpiry(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	s, err := unlock(t, e, e.Code())
	if err != nil {
		t.Fatal(err)
	}
	if err := session.Save(ctx, e.Store, s); err != nil {
		t.Fatal(err)
	}
	got, err := session.Load(ctx, e.Store, "work", e.Clock.Now())
	if err != nil || got == nil || got.Credentials != s.Credentials || !got.MFAAt.Equal(s.MFAAt) {
		t.Fatalf("load: %v %v", got, err)
	}
	// Expired: not restored, and dropped from the store.
	got, err = session.Load(ctx, e.Store, "work", e.Clock.Now().Add(13*time.Hour))
	if err != nil || got != nil {
		t.Fatalf("expired session restored: %v %v", got, err)
	}
	if _, err := e.Store.Get(ctx, "work", keystore.SessionItem); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("expired session still stored: %v", err)
	}
	// Garbage in the store is dropped, not fatal.
	if err := e.Store.Set(ctx, "work", keystore.SessionItem, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if got, err := session.Load(ctx, e.Store, "work", e.Clock.Now()); err != nil || got != nil {
		t.Fatalf("garbage: %v %v", got, err)
	}
}

func TestNoSecretInStringsOrLogs(t *testing.T) {
	e := testenv.New(t)
	code := e.Code()
	s, err := unlock(t, e, code)
	if err != nil {
		t.Fatal(err)
	}
	secrets := e.Secrets(s.Credentials.SecretAccessKey, s.Credentials.SessionToken, code)
	for what, text := range map[string]string{
		"String": s.String(), "Credentials": s.Credentials.String(), "%v": fmtV(s), "%#v": fmtGoV(s.Credentials), "log": e.Log.String(),
	} {
		testenv.AssertNoSecret(t, what, text, secrets...)
	}
	if !strings.Contains(e.Log.String(), "GetSessionToken") {
		t.Fatal("the broker logged nothing")
	}
}

func TestResolveEndpoint(t *testing.T) {
	env := map[string]string{"AWS_ENDPOINT_URL": "http://all", "AWS_ENDPOINT_URL_STS": "http://sts"}
	get := func(k string) string { return env[k] }
	if got := session.ResolveEndpoint("http://cfg", get); got != "http://cfg" {
		t.Fatal(got)
	}
	if got := session.ResolveEndpoint("", get); got != "http://sts" {
		t.Fatal(got)
	}
	delete(env, "AWS_ENDPOINT_URL_STS")
	if got := session.ResolveEndpoint("", get); got != "http://all" {
		t.Fatal(got)
	}
}

func TestAssumeRolePassesExternalIDAndSourceIdentity(t *testing.T) {
	e := testenv.New(t)
	mfa, err := unlock(t, e, e.Code())
	if err != nil {
		t.Fatal(err)
	}
	guarded := e.Emu.AddRole("guarded", stsemu.RoleOptions{ExternalID: "ext-7788", SourceIdentity: "alice"})
	p := *e.Config.Profiles["admin"]
	p.RoleARN = guarded
	if _, err := e.Broker().AssumeRole(context.Background(), &p, mfa); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("without external_id and source_identity: %v", err)
	}
	p.ExternalID, p.SourceIdentity = "ext-7788", "alice"
	rs, err := e.Broker().AssumeRole(context.Background(), &p, mfa)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := e.Emu.SessionInfo(rs.Credentials.AccessKeyID); info.SourceIdentity != "alice" || info.RoleARN != guarded {
		t.Fatalf("role session %+v", info)
	}
}
