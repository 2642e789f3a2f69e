package stsemu

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpPeriod is the time step of AWS virtual MFA devices, in seconds.
const totpPeriod = 30

// totpOptions are the TOTP parameters of AWS virtual MFA devices: 30 s
// steps, one step of tolerated drift either way, 6 digits, HMAC-SHA1.
func totpOptions() totp.ValidateOpts {
	return totp.ValidateOpts{
		Period:    totpPeriod,
		Skew:      1,
		Digits:    otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1,
	}
}

// checkMFA validates serial and code against the user's MFA device at the
// given time (at the devices' own time where Options.MFANow is set), and marks the code's time step as used: like AWS, a code is
// accepted only once per device. The caller holds e.mu.
func (e *Emulator) checkMFA(u *user, serial, code string, now time.Time) *apiError {
	if u.mfaSerial == "" || serial != u.mfaSerial {
		return errAccessDenied(msgMFASerialInvalid)
	}
	if e.mfaNow != nil {
		now = e.mfaNow()
	}
	ok, err := totp.ValidateCustom(code, u.totpSecret, now, totpOptions())
	if err != nil || !ok {
		return errAccessDenied(msgMFACodeInvalid)
	}
	// The code is valid for one of the steps around now: find which one and
	// refuse it if that step's code was already used.
	current := now.Unix() / totpPeriod
	for _, delta := range []int64{0, 1, -1} {
		at := now.Add(time.Duration(delta*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(u.totpSecret, at, totpOptions())
		if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		step := current + delta
		if _, used := u.usedSteps[step]; used {
			continue
		}
		u.usedSteps[step] = struct{}{}
		for s := range u.usedSteps {
			if s < current-2 {
				delete(u.usedSteps, s)
			}
		}
		return nil
	}
	return errAccessDenied(msgMFACodeInvalid)
}
