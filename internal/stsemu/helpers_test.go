package stsemu_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// fakeClock is a settable clock shared by the emulator and the test client.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 15, 9, 20, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// clockSigner signs with the SDK signer at the fake clock's time, so that
// the emulator's skew check passes however far the clock is moved.
type clockSigner struct {
	now    func() time.Time
	signer *v4.Signer
}

func (c clockSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) error {
	return c.signer.SignHTTP(ctx, creds, r, payloadHash, service, region, c.now(), optFns...)
}

func newV4() *v4.Signer { return v4.NewSigner() }

// serviceSigner signs for another service than the client's.
type serviceSigner struct {
	clockSigner
	service string
}

func (s serviceSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, _, region string, t time.Time, optFns ...func(*v4.SignerOptions)) error {
	return s.clockSigner.SignHTTP(ctx, creds, r, payloadHash, s.service, region, t, optFns...)
}

const testRegion = "eu-west-1"

type env struct {
	t     *testing.T
	clock *fakeClock
	srv   *stsemu.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := newFakeClock()
	srv, err := stsemu.Start(stsemu.Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, clock: clock, srv: srv}
}

func (e *env) addUser(name string) stsemu.User {
	e.t.Helper()
	u, err := e.srv.AddUser(name)
	if err != nil {
		e.t.Fatalf("AddUser: %v", err)
	}
	return u
}

// client returns a real SDK STS client pointed at the emulator, signing at
// the fake clock, with retries disabled.
func (e *env) client(akid, secret, token string, optFns ...func(*sts.Options)) *sts.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, token),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	fns := append([]func(*sts.Options){func(o *sts.Options) {
		o.BaseEndpoint = aws.String(e.srv.URL)
		o.HTTPSignerV4 = clockSigner{now: e.clock.Now, signer: v4.NewSigner()}
	}}, optFns...)
	return sts.NewFromConfig(cfg, fns...)
}

func (e *env) userClient(u stsemu.User) *sts.Client {
	return e.client(u.AccessKeyID, u.SecretAccessKey, "")
}

// apiErr asserts err is an API error with the given code and message
// (message checked only when not empty).
func apiErr(t *testing.T, err error, code, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected %s error, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("expected API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %q (%q), want %q", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if message != "" && ae.ErrorMessage() != message {
		t.Fatalf("error message = %q, want %q", ae.ErrorMessage(), message)
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
