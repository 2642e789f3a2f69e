package stsemu_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// With MFANow set, codes are checked at the devices' time, and each step's
// code is still accepted once: a device running ahead gets no code twice.
func TestMFANowChecksCodesAtTheDevicesTime(t *testing.T) {
	clock := newFakeClock()
	ahead := time.Duration(0)
	srv, err := stsemu.Start(stsemu.Options{Now: clock.Now, MFANow: func() time.Time { return clock.Now().Add(ahead) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{t: t, clock: clock, srv: srv}
	u := e.addUser("alice")
	cl := e.userClient(u)
	use := func(code string) error {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(code)})
		return err
	}
	first := srv.Code(u, clock.Now())
	if err := use(first); err != nil {
		t.Fatalf("first code: %v", err)
	}
	apiErr(t, use(first), "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	// The device moves to its next step at once; the same code stays used.
	ahead = 30 * time.Second
	apiErr(t, use(first), "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	next := srv.Code(u, clock.Now().Add(ahead))
	if err := use(next); err != nil {
		t.Fatalf("the device's next code: %v", err)
	}
	apiErr(t, use(next), "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	// Far ahead, a code of the wall clock's step is the device's past.
	ahead = 5 * time.Minute
	apiErr(t, use(srv.Code(u, clock.Now())), "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
}
