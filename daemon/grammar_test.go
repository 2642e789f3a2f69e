package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/session"
)

// A wrong mfa_serial is reported as such, not as a wrong code, and the code
// stays usable: AWS checks the device before the code.
func TestWrongSerialIsNotAWrongCode(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	right := e.Config.Profiles["work"].MFASerial
	e.Config.Profiles["work"].MFASerial = strings.TrimSuffix(right, "alice") + "bob"
	d := newDaemon(t, e, nil)
	code := e.Code()
	for i := range 2 {
		_, err := d.Unlock(ctx, "work", code)
		if !errors.Is(err, session.ErrWrongMFASerial) {
			t.Fatalf("attempt %d: %v, want a wrong-serial error", i, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "mfa_serial") || !strings.Contains(msg, "arn:aws:iam::") || strings.Contains(msg, "code was wrong") {
			t.Fatalf("attempt %d: %q", i, msg)
		}
	}
	// Fixed, the same code unlocks.
	e.Config.Profiles["work"].MFASerial = right
	if _, err := d.Unlock(ctx, "work", code); err != nil {
		t.Fatalf("the code refused with a wrong serial was treated as used: %v", err)
	}
	// A wrong code is still a wrong code, and a code is accepted once.
	if _, err := d.Unlock(ctx, "work", code); err == nil || errors.Is(err, session.ErrWrongMFASerial) {
		t.Fatalf("reused code: %v", err)
	}
}
