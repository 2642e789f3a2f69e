package stsemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/pquerna/otp"

	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
)

var (
	akiaRE   = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	asiaRE   = regexp.MustCompile(`^ASIA[A-Z0-9]{16}$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	acctUser = "arn:aws:iam::123456789012:user/"
)

func TestAddUser(t *testing.T) {
	e := stsemu.New(stsemu.Options{})
	u, err := e.AddUser("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !akiaRE.MatchString(u.AccessKeyID) || len(u.SecretAccessKey) != 40 {
		t.Errorf("bad long-term key %q / secret length %d", u.AccessKeyID, len(u.SecretAccessKey))
	}
	if u.ARN != acctUser+"alice" || u.MFASerial != "arn:aws:iam::123456789012:mfa/alice" || u.TOTPSecret == "" {
		t.Errorf("unexpected user %+v", u)
	}
	key, err := otp.NewKeyFromURL(e.OTPURI(u))
	if err != nil {
		t.Fatalf("OTPURI: %v", err)
	}
	if key.Type() != "totp" || key.Secret() != u.TOTPSecret || key.Period() != 30 || key.Digits() != otp.DigitsSix {
		t.Errorf("unexpected OTP key %s", key)
	}
	if _, err := e.AddUser("alice"); err == nil {
		t.Error("duplicate user accepted")
	}
	if _, err := e.AddUser("bad name"); err == nil {
		t.Error("invalid user name accepted")
	}
	nomfa, err := e.AddUserWithoutMFA("bob")
	if err != nil {
		t.Fatal(err)
	}
	if nomfa.MFASerial != "" || nomfa.TOTPSecret != "" || e.OTPURI(nomfa) != "" || e.Code(nomfa, time.Now()) != "" {
		t.Errorf("user without MFA has MFA data: %+v", nomfa)
	}
}

func TestGetCallerIdentityLongTermKeys(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	out, err := env.userClient(u).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(out.Arn) != u.ARN || aws.ToString(out.Account) != "123456789012" ||
		!strings.HasPrefix(aws.ToString(out.UserId), "AIDA") {
		t.Errorf("unexpected identity arn=%s account=%s userid=%s", aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId))
	}
	calls := env.srv.Calls()
	if len(calls) != 1 || calls[0].Action != "GetCallerIdentity" || calls[0].Status != 200 ||
		calls[0].AccessKeyID != u.AccessKeyID || calls[0].ErrorCode != "" || !calls[0].Time.Equal(env.clock.Now()) {
		t.Errorf("unexpected call log %+v", calls)
	}
	env.srv.ResetCalls()
	if n := len(env.srv.Calls()); n != 0 {
		t.Errorf("ResetCalls left %d calls", n)
	}
}

func getSessionToken(t *testing.T, env *env, u stsemu.User, dur int32) *types.Credentials {
	t.Helper()
	out, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{
		DurationSeconds: aws.Int32(dur),
		SerialNumber:    aws.String(u.MFASerial),
		TokenCode:       aws.String(env.srv.Code(u, env.clock.Now())),
	})
	if err != nil {
		t.Fatalf("GetSessionToken: %v", err)
	}
	return out.Credentials
}

func TestGetSessionTokenWithMFA(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	issued := env.clock.Now()
	c := getSessionToken(t, env, u, 3600)
	if !asiaRE.MatchString(aws.ToString(c.AccessKeyId)) || len(aws.ToString(c.SecretAccessKey)) != 40 ||
		len(aws.ToString(c.SessionToken)) < 200 {
		t.Errorf("unexpected credentials shape: %s", aws.ToString(c.AccessKeyId))
	}
	if want := issued.Add(time.Hour); !c.Expiration.Equal(want) {
		t.Errorf("Expiration = %v, want %v", c.Expiration, want)
	}
	info, ok := env.srv.SessionInfo(aws.ToString(c.AccessKeyId))
	if !ok {
		t.Fatal("SessionInfo: unknown key")
	}
	if info.Kind != stsemu.KindSession || !info.MFAAuthenticated || !info.MFAAuthTime.Equal(issued) ||
		!info.Expiration.Equal(issued.Add(time.Hour)) || info.UserName != "alice" || info.RoleARN != "" {
		t.Errorf("unexpected session info %+v", info)
	}
	calls := env.srv.Calls()
	if len(calls) != 1 || !calls[0].WithMFA {
		t.Errorf("call log should record WithMFA: %+v", calls)
	}
}

func TestGetSessionTokenDefaultDurationWithoutMFA(t *testing.T) {
	env := newEnv(t)
	u, err := env.srv.AddUserWithoutMFA("ci")
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatalf("GetSessionToken: %v", err)
	}
	if want := env.clock.Now().Add(12 * time.Hour); !out.Credentials.Expiration.Equal(want) {
		t.Errorf("Expiration = %v, want %v", out.Credentials.Expiration, want)
	}
	info, _ := env.srv.SessionInfo(aws.ToString(out.Credentials.AccessKeyId))
	if info.MFAAuthenticated || !info.MFAAuthTime.IsZero() {
		t.Errorf("session without MFA reported as MFA: %+v", info)
	}
	// A serial for a user without a device cannot validate.
	_, err = env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{
		SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/ci"),
		TokenCode:    aws.String("123456"),
	})
	apiErr(t, err, "AccessDenied", "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.")
}

func TestGetSessionTokenMFAFailures(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	other := env.addUser("bob")
	cl := env.userClient(u)
	now := env.clock.Now()
	good := env.srv.Code(u, now)
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, good)+1)%1000000)
	const invalidCode = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	const invalidSerial = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."

	t.Run("wrong code", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(wrong)})
		apiErr(t, err, "AccessDenied", invalidCode)
	})
	t.Run("code from three steps ago", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, now.Add(-90*time.Second)))})
		apiErr(t, err, "AccessDenied", invalidCode)
	})
	t.Run("unknown serial", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/nobody"), TokenCode: aws.String(good)})
		apiErr(t, err, "AccessDenied", invalidSerial)
	})
	t.Run("another user's serial", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(other.MFASerial), TokenCode: aws.String(env.srv.Code(other, now))})
		apiErr(t, err, "AccessDenied", invalidSerial)
	})
	t.Run("serial without code", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial)})
		apiErr(t, err, "AccessDenied", "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.")
	})
	t.Run("code without serial", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{TokenCode: aws.String(good)})
		apiErr(t, err, "AccessDenied", "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.")
	})
	t.Run("short code", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String("12345")})
		apiErr(t, err, "ValidationError", "1 validation error detected: Value '12345' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6")
	})
	t.Run("non-digit code", func(t *testing.T) {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String("12a456")})
		apiErr(t, err, "ValidationError", `1 validation error detected: Value '12a456' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]*`)
	})
	t.Run("valid then reused", func(t *testing.T) {
		in := &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(good)}
		if _, err := cl.GetSessionToken(ctx(t), in); err != nil {
			t.Fatalf("first use: %v", err)
		}
		_, err := cl.GetSessionToken(ctx(t), in)
		apiErr(t, err, "AccessDenied", invalidCode)
		// Still refused within the drift window of the next step.
		env.clock.Advance(30 * time.Second)
		_, err = cl.GetSessionToken(ctx(t), in)
		apiErr(t, err, "AccessDenied", invalidCode)
		// The next step's code is accepted.
		in.TokenCode = aws.String(env.srv.Code(u, env.clock.Now()))
		if _, err := cl.GetSessionToken(ctx(t), in); err != nil {
			t.Fatalf("next step code: %v", err)
		}
	})
	t.Run("previous step code accepted once", func(t *testing.T) {
		env.clock.Advance(5 * time.Minute)
		in := &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, env.clock.Now().Add(-30*time.Second)))}
		if _, err := cl.GetSessionToken(ctx(t), in); err != nil {
			t.Fatalf("previous step code: %v", err)
		}
		_, err := cl.GetSessionToken(ctx(t), in)
		apiErr(t, err, "AccessDenied", invalidCode)
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("not a number %q", s)
	}
	return n
}

func TestGetSessionTokenDurationValidation(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	cl := env.userClient(u)
	for _, tc := range []struct {
		dur  int32
		want string
	}{
		{899, "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{129601, "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600"},
	} {
		_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(tc.dur)})
		apiErr(t, err, "ValidationError", tc.want)
	}
	_, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(100), SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String("abc")})
	apiErr(t, err, "ValidationError", "3 validation errors detected: "+
		"Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900; "+
		"Value 'abc' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6; "+
		`Value 'abc' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]*`)
	for _, dur := range []int32{900, 129600} {
		if _, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(dur)}); err != nil {
			t.Errorf("duration %d: %v", dur, err)
		}
	}
}

func TestSignatureErrors(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")

	t.Run("wrong secret", func(t *testing.T) {
		_, err := env.client(u.AccessKeyID, strings.Repeat("x", 40), "").GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := env.client("AKIAAAAAAAAAAAAAAAAA", u.SecretAccessKey, "").GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
	})
	t.Run("session token with long-term key", func(t *testing.T) {
		_, err := env.client(u.AccessKeyID, u.SecretAccessKey, "bogus").GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "InvalidClientTokenId", "")
	})
	t.Run("wrong service", func(t *testing.T) {
		cl := env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
			o.HTTPSignerV4 = serviceSigner{clockSigner{now: env.clock.Now, signer: newV4()}, "iam"}
		})
		_, err := cl.GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'. ")
	})
	t.Run("clock skew", func(t *testing.T) {
		cl := env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
			o.HTTPSignerV4 = clockSigner{now: func() time.Time { return env.clock.Now().Add(-6 * time.Minute) }, signer: newV4()}
		})
		_, err := cl.GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "SignatureDoesNotMatch", "Signature expired: 20260314T150320Z is now earlier than 20260314T150420Z (20260314T150920Z - 5 min.)")
		cl = env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
			o.HTTPSignerV4 = clockSigner{now: func() time.Time { return env.clock.Now().Add(6 * time.Minute) }, signer: newV4()}
		})
		_, err = cl.GetCallerIdentity(ctx(t), nil)
		apiErr(t, err, "SignatureDoesNotMatch", "Signature not yet current: 20260314T151520Z is still later than 20260314T151420Z (20260314T150920Z + 5 min.)")
		// Within five minutes is fine.
		cl = env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
			o.HTTPSignerV4 = clockSigner{now: func() time.Time { return env.clock.Now().Add(-4 * time.Minute) }, signer: newV4()}
		})
		if _, err := cl.GetCallerIdentity(ctx(t), nil); err != nil {
			t.Errorf("4 minutes of skew refused: %v", err)
		}
	})
	calls := env.srv.Calls()
	if len(calls) == 0 || calls[0].ErrorCode != "SignatureDoesNotMatch" || calls[0].Status != 403 || calls[0].AccessKeyID != u.AccessKeyID {
		t.Errorf("failed auth not logged: %+v", calls)
	}
}

func TestRegionRestriction(t *testing.T) {
	clock := newFakeClock()
	srv, err := stsemu.Start(stsemu.Options{Now: clock.Now, Region: "us-east-1", Account: "210987654321"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := &env{t: t, clock: clock, srv: srv}
	u := env.addUser("alice")
	_, err = env.userClient(u).GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "SignatureDoesNotMatch", "Credential should be scoped to a valid region. ")
	cl := env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) { o.Region = "us-east-1" })
	out, err := cl.GetCallerIdentity(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "210987654321" || aws.ToString(out.Arn) != "arn:aws:iam::210987654321:user/alice" {
		t.Errorf("unexpected identity %s %s", aws.ToString(out.Account), aws.ToString(out.Arn))
	}
}

func TestTemporaryCredentialsLifecycle(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	c := getSessionToken(t, env, u, 900)
	akid, secret, token := aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)
	sess := env.client(akid, secret, token)

	out, err := sess.GetCallerIdentity(ctx(t), nil)
	if err != nil {
		t.Fatalf("GetCallerIdentity with session credentials: %v", err)
	}
	if aws.ToString(out.Arn) != u.ARN {
		t.Errorf("session identity = %s, want the user's ARN %s", aws.ToString(out.Arn), u.ARN)
	}

	_, err = sess.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{})
	apiErr(t, err, "AccessDenied", "Cannot call GetSessionToken with session credentials")

	_, err = env.client(akid, secret, token[:len(token)-4]+"AAAA").GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
	_, err = env.client(akid, secret, "").GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")

	env.clock.Advance(899 * time.Second)
	if _, err := sess.GetCallerIdentity(ctx(t), nil); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	env.clock.Advance(time.Second)
	_, err = sess.GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "ExpiredToken", "The security token included in the request is expired")
}

func TestAssumeRole(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	roleARN := env.srv.AddRole("deploy", stsemu.RoleOptions{MaxSessionDuration: 4 * time.Hour})
	if roleARN != "arn:aws:iam::123456789012:role/deploy" {
		t.Fatalf("role ARN = %s", roleARN)
	}
	cl := env.userClient(u)

	out, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("alice@laptop"),
		DurationSeconds: aws.Int32(7200), ExternalId: aws.String("ext-123"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::123456789012:assumed-role/deploy/alice@laptop" {
		t.Errorf("AssumedRoleUser.Arn = %s", got)
	}
	if got := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !regexp.MustCompile(`^AROA[A-Z0-9]{17}:alice@laptop$`).MatchString(got) {
		t.Errorf("AssumedRoleId = %s", got)
	}
	if want := env.clock.Now().Add(2 * time.Hour); !out.Credentials.Expiration.Equal(want) {
		t.Errorf("Expiration = %v, want %v", out.Credentials.Expiration, want)
	}
	rc := env.client(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	id, err := rc.GetCallerIdentity(ctx(t), nil)
	if err != nil {
		t.Fatalf("GetCallerIdentity as role: %v", err)
	}
	if aws.ToString(id.Arn) != aws.ToString(out.AssumedRoleUser.Arn) || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("role identity %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId))
	}

	t.Run("too long for role", func(t *testing.T) {
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(4*3600 + 1)})
		apiErr(t, err, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	})
	t.Run("out of range", func(t *testing.T) {
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(43201)})
		apiErr(t, err, "ValidationError", "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200")
	})
	t.Run("bad session name", func(t *testing.T) {
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("a b")})
		apiErr(t, err, "ValidationError", `1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		_, err = cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("a")})
		apiErr(t, err, "ValidationError", "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2")
	})
	t.Run("unknown role", func(t *testing.T) {
		missing := "arn:aws:iam::123456789012:role/nope"
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(missing), RoleSessionName: aws.String("s1")})
		apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+missing)
	})
	t.Run("untrusted user", func(t *testing.T) {
		only := env.srv.AddRole("bob-only", stsemu.RoleOptions{TrustedUsers: []string{"bob"}})
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(only), RoleSessionName: aws.String("s1")})
		apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+only)
	})
	t.Run("external id", func(t *testing.T) {
		ext := env.srv.AddRole("ext", stsemu.RoleOptions{ExternalID: "secret-ext"})
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(ext), RoleSessionName: aws.String("s1"), ExternalId: aws.String("wrong-ext")})
		apiErr(t, err, "AccessDenied", "")
		if _, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(ext), RoleSessionName: aws.String("s1"), ExternalId: aws.String("secret-ext")}); err != nil {
			t.Errorf("matching external id: %v", err)
		}
	})
	t.Run("external id missing", func(t *testing.T) {
		ext := env.srv.AddRole("ext2", stsemu.RoleOptions{ExternalID: "secret-ext"})
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(ext), RoleSessionName: aws.String("s1")})
		apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+ext)
	})
	t.Run("source identity", func(t *testing.T) {
		plain := env.srv.AddRole("plain", stsemu.RoleOptions{})
		_, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(plain), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("alice")})
		apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: sts:SetSourceIdentity on resource: "+plain)
		_, err = cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(plain), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("a:b")})
		apiErr(t, err, "ValidationError", `1 validation error detected: Value 'a:b' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		demands := env.srv.AddRole("demands", stsemu.RoleOptions{SourceIdentity: "alice"})
		_, err = cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(demands), RoleSessionName: aws.String("s1")})
		apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+demands)
		out, err := cl.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(demands), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("alice")})
		if err != nil || aws.ToString(out.SourceIdentity) != "alice" {
			t.Fatalf("AssumeRole with the demanded source identity: %v", err)
		}
		if info, _ := env.srv.SessionInfo(aws.ToString(out.Credentials.AccessKeyId)); info.SourceIdentity != "alice" {
			t.Errorf("SessionInfo.SourceIdentity = %q", info.SourceIdentity)
		}
		// It stays across role chaining and cannot be changed.
		chained := env.client(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
		allows := env.srv.AddRole("allows", stsemu.RoleOptions{AllowSourceIdentity: true})
		_, err = chained.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(allows), RoleSessionName: aws.String("s2"), SourceIdentity: aws.String("mallory")})
		if err == nil || !strings.Contains(err.Error(), "cannot be changed") {
			t.Fatalf("changing the source identity in a chain: %v", err)
		}
		out, err = chained.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(plain), RoleSessionName: aws.String("s2")})
		if err != nil || aws.ToString(out.SourceIdentity) != "alice" {
			t.Fatalf("chained AssumeRole keeps the source identity: %v %v", err, out)
		}
	})
	t.Run("chaining from role", func(t *testing.T) {
		_, err := rc.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("chained"), DurationSeconds: aws.Int32(3601)})
		apiErr(t, err, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
		if _, err := rc.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("chained")}); err != nil {
			t.Errorf("chained AssumeRole with default duration: %v", err)
		}
	})
}

func TestAssumeRoleFromSessionChainingLimit(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	roleARN := env.srv.AddRole("admin", stsemu.RoleOptions{MaxSessionDuration: 12 * time.Hour})
	c := getSessionToken(t, env, u, 43200)
	sess := env.client(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	_, err := sess.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)})
	apiErr(t, err, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	if _, err := sess.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3600)}); err != nil {
		t.Errorf("3600 s from a session: %v", err)
	}
}

func TestAssumeRoleInheritsMFA(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	roleARN := env.srv.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	mfaAt := env.clock.Now()
	c := getSessionToken(t, env, u, 43200)

	env.clock.Advance(2 * time.Hour)
	sess := env.client(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	out, err := sess.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("alice")})
	if err != nil {
		t.Fatalf("AssumeRole from MFA session: %v", err)
	}
	info, ok := env.srv.SessionInfo(aws.ToString(out.Credentials.AccessKeyId))
	if !ok {
		t.Fatal("no session info for role credentials")
	}
	if info.Kind != stsemu.KindRole || info.RoleARN != roleARN || info.SessionName != "alice" ||
		!info.MFAAuthenticated || !info.MFAAuthTime.Equal(mfaAt) || !info.IssuedAt.Equal(env.clock.Now()) {
		t.Errorf("role session info %+v, want MFA time %v inherited", info, mfaAt)
	}
	// And again through role chaining.
	rc := env.client(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	out2, err := rc.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("alice2")})
	if err != nil {
		t.Fatalf("chained AssumeRole: %v", err)
	}
	info2, _ := env.srv.SessionInfo(aws.ToString(out2.Credentials.AccessKeyId))
	if !info2.MFAAuthenticated || !info2.MFAAuthTime.Equal(mfaAt) {
		t.Errorf("chained session lost MFA info: %+v", info2)
	}
}

func TestRequireMFARole(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	roleARN := env.srv.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})
	denied := "User: " + u.ARN + " is not authorized to perform: sts:AssumeRole on resource: " + roleARN

	// Long-term keys without MFA.
	_, err := env.userClient(u).AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
	apiErr(t, err, "AccessDenied", denied)

	// A session obtained without MFA.
	out, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	sess := env.client(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	_, err = sess.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
	apiErr(t, err, "AccessDenied", denied)

	// The same session, with MFA in the AssumeRole call itself.
	env.clock.Advance(time.Minute)
	ar, err := sess.AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"),
		SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, env.clock.Now())),
	})
	if err != nil {
		t.Fatalf("AssumeRole with MFA in call: %v", err)
	}
	info, _ := env.srv.SessionInfo(aws.ToString(ar.Credentials.AccessKeyId))
	if !info.MFAAuthenticated || !info.MFAAuthTime.Equal(env.clock.Now()) {
		t.Errorf("MFA in AssumeRole not recorded: %+v", info)
	}
	// Long-term keys with a wrong code.
	_, err = env.userClient(u).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"),
		SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, env.clock.Now())),
	})
	apiErr(t, err, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
}

func TestThrottlingFault(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")

	env.srv.InjectFault(stsemu.Fault{Action: "GetCallerIdentity", Code: "Throttling"})
	// A fault for another action does not apply.
	env.srv.InjectFault(stsemu.Fault{Action: "AssumeRole", Status: 500})
	_, err := env.userClient(u).GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "Throttling", "Rate exceeded")
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Errorf("Throttling error not retryable for the SDK: %v", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("Throttling error not a throttle for the SDK: %v", err)
	}
	if calls := env.srv.Calls(); len(calls) != 1 || calls[0].Status != 400 || calls[0].ErrorCode != "Throttling" {
		t.Errorf("call log %+v", calls)
	}

	// With the standard retryer (no backoff) the SDK retries through two
	// throttled attempts.
	env.srv.ResetCalls()
	env.srv.InjectFault(stsemu.Fault{Code: "Throttling", Times: 2})
	cl := env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if _, err := cl.GetCallerIdentity(ctx(t), nil); err != nil {
		t.Fatalf("retried GetCallerIdentity: %v", err)
	}
	calls := env.srv.Calls()
	if len(calls) != 3 || calls[0].ErrorCode != "Throttling" || calls[1].ErrorCode != "Throttling" || calls[2].Status != 200 {
		t.Errorf("call log %+v", calls)
	}
}

func TestServerFaultAndLatency(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")

	env.srv.InjectFault(stsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	resp := rawPost(t, env.srv.URL, "Action=GetCallerIdentity&Version=2011-06-15")
	if resp.status != 503 || !strings.Contains(resp.body, "<Type>Receiver</Type>") || !strings.Contains(resp.body, "<Code>ServiceUnavailable</Code>") {
		t.Errorf("5xx fault response %d %s", resp.status, resp.body)
	}

	// A latency-only fault delays a successful response.
	env.srv.InjectFault(stsemu.Fault{Latency: 20 * time.Millisecond})
	start := time.Now()
	if _, err := env.userClient(u).GetCallerIdentity(ctx(t), nil); err != nil {
		t.Fatalf("GetCallerIdentity with latency: %v", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("latency not applied: %v", d)
	}

	// Latency honours the request context.
	env.srv.ResetCalls()
	env.srv.InjectFault(stsemu.Fault{Latency: time.Minute, Code: "Throttling"})
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := env.userClient(u).GetCallerIdentity(c, nil)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expected deadline exceeded, got %v", err)
	}
	waitFor(t, func() bool { return len(env.srv.Calls()) == 1 })
	if calls := env.srv.Calls(); calls[0].Status != 499 {
		t.Errorf("cancelled call logged as %+v", calls[0])
	}
	// The fault was consumed.
	if _, err := env.userClient(u).GetCallerIdentity(ctx(t), nil); err != nil {
		t.Errorf("after cancelled fault: %v", err)
	}
}

// waitFor polls cond, for server-side effects of a client that went away.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type rawResponse struct {
	status int
	header http.Header
	body   string
}

func rawPost(t *testing.T, url, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestErrorResponseShape(t *testing.T) {
	env := newEnv(t)
	resp := rawPost(t, env.srv.URL, "Action=GetCallerIdentity&Version=2011-06-15")
	if resp.status != 403 {
		t.Fatalf("status %d", resp.status)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	reqID := resp.header.Get("X-Amzn-Requestid")
	if !uuidRE.MatchString(reqID) {
		t.Errorf("request id %q", reqID)
	}
	want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>MissingAuthenticationToken</Code>
    <Message>Request is missing Authentication Token</Message>
  </Error>
  <RequestId>` + reqID + `</RequestId>
</ErrorResponse>
`
	if resp.body != want {
		t.Errorf("body:\n%s\nwant:\n%s", resp.body, want)
	}
	if date := resp.header.Get("Date"); date != env.clock.Now().Format(http.TimeFormat) {
		t.Errorf("Date header %q does not follow the emulator clock", date)
	}

	for _, tc := range []struct{ body, code, msg string }{
		{"Action=GetFederationToken&Version=2011-06-15", "InvalidAction", "Could not find operation GetFederationToken for version 2011-06-15"},
		{"Action=GetCallerIdentity&Version=2010-01-01", "InvalidAction", "Could not find operation GetCallerIdentity for version 2010-01-01"},
		{"Version=2011-06-15", "MissingAction", "Missing Action"},
	} {
		r := rawPost(t, env.srv.URL, tc.body)
		if r.status != 400 || !strings.Contains(r.body, "<Code>"+tc.code+"</Code>") || !strings.Contains(r.body, "<Message>"+tc.msg+"</Message>") {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
		}
	}

	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, env.srv.URL, strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Amz-Date", "20260314T150920Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20260314/us-east-1/sts/aws4_request")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 400 || !strings.Contains(string(b), "<Code>IncompleteSignature</Code>") ||
		!strings.Contains(string(b), "Authorization header requires 'Signature' parameter.") {
		t.Errorf("incomplete signature: %d %s", resp2.StatusCode, b)
	}
}

func TestCallLogHasNoSecrets(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	code := env.srv.Code(u, env.clock.Now())
	out, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(code)})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(code)})
	c := out.Credentials
	sess := env.client(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	if _, err := sess.GetCallerIdentity(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	_, _ = env.client(u.AccessKeyID, "wrong-secret-wrong-secret-wrong-secret!!", "").GetCallerIdentity(ctx(t), nil)

	dump := fmt.Sprintf("%+v %#v", env.srv.Calls(), env.srv.Calls())
	for name, secret := range map[string]string{
		"user secret":    u.SecretAccessKey,
		"TOTP secret":    u.TOTPSecret,
		"MFA code":       code,
		"session secret": aws.ToString(c.SecretAccessKey),
		"session token":  aws.ToString(c.SessionToken),
	} {
		if strings.Contains(dump, secret) {
			t.Errorf("call log contains the %s", name)
		}
	}
	if n := len(env.srv.Calls()); n != 4 {
		t.Errorf("call log has %d entries, want 4", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	cl := env.userClient(u)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := cl.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)}); err != nil {
				errs <- err
			}
			_ = env.srv.Calls()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(env.srv.Calls()); n != 20 {
		t.Errorf("%d calls logged, want 20", n)
	}
}

// signedRequest builds a GetCallerIdentity request signed by the SDK signer
// at the given time; mutate runs after signing.
func signedRequest(t *testing.T, url string, u stsemu.User, at time.Time, body string, mutate func(*http.Request)) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Unsigned-Later", "a")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: u.AccessKeyID, SecretAccessKey: u.SecretAccessKey}
	if err := newV4().SignHTTP(ctx(t), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestSignatureCoversRequest(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	now := env.clock.Now()

	if r := signedRequest(t, env.srv.URL, u, now, body, nil); r.status != 200 || !strings.Contains(r.body, "<Arn>"+u.ARN+"</Arn>") {
		t.Fatalf("signed request refused: %d %s", r.status, r.body)
	}
	// Headers added after signing are not covered and do not matter.
	r := signedRequest(t, env.srv.URL, u, now, body, func(req *http.Request) { req.Header.Set("X-Extra", "1") })
	if r.status != 200 {
		t.Errorf("unsigned extra header refused: %d %s", r.status, r.body)
	}
	for name, mutate := range map[string]func(*http.Request){
		"signed header changed": func(req *http.Request) { req.Header.Set("X-Unsigned-Later", "b") },
		"body changed": func(req *http.Request) {
			b := "Action=GetCallerIdentity&Version=2011-06-15&X=1"
			req.Body = io.NopCloser(strings.NewReader(b))
			req.ContentLength = int64(len(b))
		},
		"content sha256 header lies": func(req *http.Request) {
			req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		},
		"path changed": func(req *http.Request) { req.URL.Path = "/other" },
		"query added":  func(req *http.Request) { req.URL.RawQuery = "a=b" },
	} {
		r := signedRequest(t, env.srv.URL, u, now, body, mutate)
		if r.status != 403 || !strings.Contains(r.body, "<Code>SignatureDoesNotMatch</Code>") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// A signature over the previous second is still a valid signature.
	if r := signedRequest(t, env.srv.URL, u, now.Add(-time.Second), body, nil); r.status != 200 {
		t.Errorf("earlier signing time refused: %d %s", r.status, r.body)
	}
	// Scope date must match X-Amz-Date.
	r = signedRequest(t, env.srv.URL, u, now, body, func(req *http.Request) {
		req.Header.Set("X-Amz-Date", now.Add(-24*time.Hour).Format("20060102T150405Z"))
	})
	if r.status != 403 || !strings.Contains(r.body, "<Message>Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260314' != '20260313', from '20260313T150920Z'.</Message>") {
		t.Errorf("scope date mismatch: %d %s", r.status, r.body)
	}
}

func TestSuccessResponseShape(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	r := signedRequest(t, env.srv.URL, u, env.clock.Now(), "Action=GetCallerIdentity&Version=2011-06-15", nil)
	reqID := r.header.Get("X-Amzn-Requestid")
	want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>` + u.ARN + `</Arn>
    <UserId>USERID</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>` + reqID + `</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`
	got := regexp.MustCompile(`<UserId>AIDA[A-Z0-9]{17}</UserId>`).ReplaceAllString(r.body, "<UserId>USERID</UserId>")
	if r.status != 200 || got != want || r.header.Get("Content-Type") != "text/xml" {
		t.Errorf("response %d %q:\n%s\nwant:\n%s", r.status, r.header.Get("Content-Type"), r.body, want)
	}
}

// TestShortLifetimesLatencyAndClockOffset drives the knobs tests of
// refresh schedules need: credentials shorter than requested, a latency on
// every call, and an STS clock that differs from the caller's.
func TestShortLifetimesLatencyAndClockOffset(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	roleARN := env.srv.AddRole("admin", stsemu.RoleOptions{RequireMFA: true})

	// AssumeRole capped at 2 minutes; GetSessionToken unchanged.
	env.srv.SetMaxLifetime("AssumeRole", 2*time.Minute)
	issued := env.clock.Now()
	s := getSessionToken(t, env, u, 3600)
	if want := issued.Add(time.Hour); !s.Expiration.Equal(want) {
		t.Fatalf("session expires %v, want %v", s.Expiration, want)
	}
	roleClient := env.client(aws.ToString(s.AccessKeyId), aws.ToString(s.SecretAccessKey), aws.ToString(s.SessionToken))
	out, err := roleClient.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test"), DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatal(err)
	}
	if want := issued.Add(2 * time.Minute); !out.Credentials.Expiration.Equal(want) {
		t.Fatalf("role expires %v, want the 2-minute cap %v", out.Credentials.Expiration, want)
	}
	env.srv.SetMaxLifetime("", 0)

	// A latency on every call.
	env.srv.SetLatency(30 * time.Millisecond)
	start := time.Now()
	if _, err := env.userClient(u).GetCallerIdentity(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("latency not applied: %v", d)
	}
	env.srv.SetLatency(0)

	// A held STS answers nothing until it is released.
	release := env.srv.Hold()
	answered := make(chan error, 1)
	go func() {
		_, err := env.userClient(u).GetCallerIdentity(ctx(t), nil)
		answered <- err
	}()
	testenv.WaitFor(t, "the held call to arrive", func() bool { return env.srv.Waiting() == 1 })
	select {
	case err := <-answered:
		t.Fatalf("a held STS answered: %v", err)
	default:
	}
	release()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}

	// STS's clock 45 minutes behind the caller's: a request signed with the
	// caller's time is refused, with STS's time in the Date header...
	env.srv.SetClockOffset(-45 * time.Minute)
	resp := rawPost(t, env.srv.URL, "Action=GetCallerIdentity&Version=2011-06-15")
	date, err := http.ParseTime(resp.header.Get("Date"))
	if err != nil || !date.Equal(env.clock.Now().Add(-45*time.Minute).Truncate(time.Second)) {
		t.Fatalf("Date %q (%v), want STS's time", resp.header.Get("Date"), err)
	}
	_, err = env.userClient(u).GetCallerIdentity(ctx(t), nil)
	apiErr(t, err, "SignatureDoesNotMatch", "")
	// ...and one signed with STS's time gets credentials on STS's clock.
	stsNow := func() time.Time { return env.srv.Now() }
	c := env.client(u.AccessKeyID, u.SecretAccessKey, "", func(o *sts.Options) {
		o.HTTPSignerV4 = clockSigner{now: stsNow, signer: newV4()}
	})
	gst, err := c.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900),
		SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(env.srv.Code(u, env.srv.Now()))})
	if err != nil {
		t.Fatal(err)
	}
	if want := stsNow().Add(15 * time.Minute); !gst.Credentials.Expiration.Equal(want) {
		t.Fatalf("expires %v, want %v (STS's clock)", gst.Credentials.Expiration, want)
	}
}
