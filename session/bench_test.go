package session_test

import (
	"context"
	"testing"

	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/session"
)

// The broker's STS round trips against the emulator on loopback, for
// reference: what an unlock and a role renewal cost mfad, STS's own latency
// aside. Run them with
//
//	go test -run '^$' -bench . -benchmem ./session/

// BenchmarkGetSessionToken unlocks with a new code each time (the emulator,
// like AWS, accepts each code once: the fake clock moves to the next 30 s
// step).
func BenchmarkGetSessionToken(b *testing.B) {
	e := testenv.New(b)
	br := e.Broker()
	p := e.Config.Profiles["work"]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code := e.NextCode()
		b.StartTimer()
		if _, err := br.GetSessionToken(ctx, session.UnlockInput{Profile: p, Key: e.Key(), Code: code}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssumeRole renews a role session from one MFA session.
func BenchmarkAssumeRole(b *testing.B) {
	e := testenv.New(b)
	br := e.Broker()
	ctx := context.Background()
	mfa, err := br.GetSessionToken(ctx, session.UnlockInput{Profile: e.Config.Profiles["work"], Key: e.Key(), Code: e.Code()})
	if err != nil {
		b.Fatal(err)
	}
	p := e.Config.Profiles["admin"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.AssumeRole(ctx, p, mfa); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnlockRoundTrip is what `mfad unlock` of a role profile costs:
// GetSessionToken with a code, then AssumeRole from the new session.
func BenchmarkUnlockRoundTrip(b *testing.B) {
	e := testenv.New(b)
	br := e.Broker()
	ctx := context.Background()
	work, admin := e.Config.Profiles["work"], e.Config.Profiles["admin"]
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code := e.NextCode()
		b.StartTimer()
		mfa, err := br.GetSessionToken(ctx, session.UnlockInput{Profile: work, Key: e.Key(), Code: code})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := br.AssumeRole(ctx, admin, mfa); err != nil {
			b.Fatal(err)
		}
	}
}
