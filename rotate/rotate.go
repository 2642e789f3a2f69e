// Package rotate replaces an IAM user's long-term access key through the
// user's MFA session: list the keys (AWS allows two), create a new one,
// store it, check that it signs requests, and delete the old one.
//
// Every failure leaves a working key stored and says what state AWS and
// the keystore are in.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

// MaxKeys is AWS's quota of access keys per IAM user.
const MaxKeys = 2

// Options configure a rotation.
type Options struct {
	// IAMEndpoint overrides the IAM endpoint URL ("" = AWS's).
	IAMEndpoint string
	// HTTPClient sends requests; nil = http.DefaultClient.
	HTTPClient *http.Client
	// Clock signs requests and times the waits between verification
	// attempts; nil = the system clock.
	Clock clock.Clock
	// ClockOffset, when set, is AWS's clock against Clock (as STS's
	// answers showed it): requests are signed at AWS's time, so that a
	// machine whose clock is off by more than the 5 minutes SigV4 allows
	// can still rotate its key.
	ClockOffset func() time.Duration
	// Logger receives one line per step; nil = discard. No secret is logged.
	Logger *slog.Logger
	// Verify calls sts:GetCallerIdentity once with key and returns the ARN.
	Verify func(ctx context.Context, key keystore.AccessKey) (string, error)
	// VerifyAttempts bounds the verification attempts (default 8): a new
	// key can take seconds to work everywhere in AWS (IAM is eventually
	// consistent).
	VerifyAttempts int
	// VerifyBackoff is the first wait between attempts (default 1s); it
	// doubles up to 8 times that.
	VerifyBackoff time.Duration
}

// Input is one rotation.
type Input struct {
	// Profile names the key profile, for messages.
	Profile string
	// Region is the profile's region; IAM is signed for its partition's
	// global region.
	Region string
	// Session is the profile's MFA session: IAM key calls under an MFA
	// policy need it.
	Session aws.Credentials
	// Old is the stored key to replace.
	Old keystore.AccessKey
	// Store writes a key to the keystore as the profile's key.
	Store func(ctx context.Context, k keystore.AccessKey) error
}

// Result describes a rotation that went through.
type Result struct {
	// OldKeyID was replaced and deleted; NewKeyID is stored.
	OldKeyID, NewKeyID string
	// Created is when IAM created the new key.
	Created time.Time
	// UserARN is the IAM user whose key was rotated.
	UserARN string
	// VerifyAttempts is how many GetCallerIdentity calls the new key took.
	VerifyAttempts int
}

// ErrKeyLimit reports that the user already has AWS's two keys.
var ErrKeyLimit = errors.New("the IAM user already has two access keys")

// Rotate replaces in.Old with a new key. See the package documentation.
func Rotate(ctx context.Context, o Options, in Input) (Result, error) {
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.VerifyAttempts <= 0 {
		o.VerifyAttempts = 8
	}
	if o.VerifyBackoff <= 0 {
		o.VerifyBackoff = time.Second
	}
	if o.Verify == nil {
		return Result{}, errors.New("rotate: Options.Verify is required")
	}
	c := iamClient(o, in)
	old := in.Old.AccessKeyID
	unchanged := "nothing was changed: the key " + old + " is still stored and in use"

	// 1. The user's keys, before anything is created.
	list, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		return Result{}, fmt.Errorf("IAM ListAccessKeys: %w: %s", explain(err), unchanged)
	}
	var others []string
	found := false
	for _, k := range list.AccessKeyMetadata {
		id := aws.ToString(k.AccessKeyId)
		if id == old {
			found = true
			continue
		}
		desc := id + " (" + string(k.Status)
		if k.CreateDate != nil {
			desc += ", created " + k.CreateDate.UTC().Format("2006-01-02")
		}
		others = append(others, desc+")")
	}
	if !found {
		return Result{}, fmt.Errorf("the stored key %s is not one of this IAM user's access keys (%s): store the user's current key with `mfad add %s --force`; %s",
			old, strings.Join(others, ", "), in.Profile, unchanged)
	}
	if len(list.AccessKeyMetadata) >= MaxKeys {
		return Result{}, fmt.Errorf("%w (AWS's limit): %s besides the stored %s; delete the one mfad does not use in IAM (for example `mfad exec %s -- aws iam delete-access-key --access-key-id %s`), then rotate again; %s",
			ErrKeyLimit, strings.Join(others, ", "), old, in.Profile, firstWord(others), unchanged)
	}

	// The identity the new key must sign as.
	want, err := o.Verify(ctx, in.Old)
	if err != nil {
		want = ""
	}

	// 2. The new key. Never retried: a lost answer must not make a second key.
	created, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{}, func(io *iam.Options) { io.Retryer = aws.NopRetryer{} })
	if err != nil {
		return Result{}, fmt.Errorf("IAM CreateAccessKey: %w: %s (if the request reached AWS, list the user's keys with `mfad exec %s -- aws iam list-access-keys`)",
			explain(err), unchanged, in.Profile)
	}
	ak := created.AccessKey
	if ak == nil || ak.AccessKeyId == nil || ak.SecretAccessKey == nil {
		return Result{}, errors.New("IAM CreateAccessKey returned no key: list the user's keys with `mfad exec " + in.Profile + " -- aws iam list-access-keys` and delete any key mfad does not use")
	}
	nk := keystore.AccessKey{AccessKeyID: *ak.AccessKeyId, SecretAccessKey: *ak.SecretAccessKey, Created: o.Clock.Now().UTC()}
	if ak.CreateDate != nil {
		nk.Created = ak.CreateDate.UTC()
	}
	o.Logger.Info("access key created", "profile", in.Profile, "new", nk.AccessKeyID, "old", old)
	// From here on, cleanups must run even when the caller gives up.
	cleanup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	}

	// 3. Store it, so that the secret is never only in memory.
	if err := in.Store(ctx, nk); err != nil {
		cctx, cancel := cleanup()
		defer cancel()
		if derr := deleteKey(cctx, c, nk.AccessKeyID); derr != nil {
			return Result{}, fmt.Errorf("the new key %s was created but could not be stored (%w), and deleting it failed (%v): delete %s in IAM; the old key %s is still stored and in use",
				nk.AccessKeyID, err, explain(derr), nk.AccessKeyID, old)
		}
		return Result{}, fmt.Errorf("the new key %s could not be stored (%w) and was deleted again: the old key %s is still stored and in use", nk.AccessKeyID, err, old)
	}

	// 4. Check that it works (IAM is eventually consistent: it may take seconds).
	arn, attempts, verr := verify(ctx, o, nk, want)
	if verr != nil {
		cctx, cancel := cleanup()
		defer cancel()
		rerr := in.Store(cctx, in.Old)
		derr := deleteKey(cctx, c, nk.AccessKeyID)
		switch {
		case rerr != nil && derr != nil:
			return Result{}, fmt.Errorf("the new key %s did not work (%w); putting the old key %s back in the keystore failed (%v) and deleting the new key failed (%v): the new key %s is stored and both keys exist in IAM; run `mfad rotate %s` again later, or store the old key with `mfad add %s --force` and delete %s in IAM",
				nk.AccessKeyID, verr, old, rerr, explain(derr), nk.AccessKeyID, in.Profile, in.Profile, nk.AccessKeyID)
		case rerr != nil:
			return Result{}, fmt.Errorf("the new key %s did not work (%w) and was deleted, but putting the old key %s back in the keystore failed (%v): store it with `mfad add %s --force`",
				nk.AccessKeyID, verr, old, rerr, in.Profile)
		case derr != nil:
			return Result{}, fmt.Errorf("the new key %s did not work (%w): the old key %s is stored again and in use; deleting the new key failed (%v): delete %s in IAM",
				nk.AccessKeyID, verr, old, explain(derr), nk.AccessKeyID)
		}
		return Result{}, fmt.Errorf("the new key %s did not work (%w) and was deleted: the old key %s is stored again and in use; try again later",
			nk.AccessKeyID, verr, old)
	}
	o.Logger.Info("new access key works", "profile", in.Profile, "new", nk.AccessKeyID, "attempts", attempts)

	// 5. Delete the old key.
	if err := deleteKey(ctx, c, old); err != nil {
		return Result{}, fmt.Errorf("new key %s created and stored, old key not deleted (%w): delete %s in IAM, for example `mfad exec %s -- aws iam delete-access-key --access-key-id %s`",
			nk.AccessKeyID, explain(err), old, in.Profile, old)
	}
	o.Logger.Info("old access key deleted", "profile", in.Profile, "old", old)
	return Result{OldKeyID: old, NewKeyID: nk.AccessKeyID, Created: nk.Created, UserARN: arn, VerifyAttempts: attempts}, nil
}

// verify calls Verify with the new key until it works, waiting between
// attempts while AWS reports the key unknown, throttles or fails.
func verify(ctx context.Context, o Options, k keystore.AccessKey, want string) (string, int, error) {
	wait := o.VerifyBackoff
	var last error
	for n := 1; n <= o.VerifyAttempts; n++ {
		arn, err := o.Verify(ctx, k)
		if err == nil {
			if want != "" && arn != want {
				return "", n, fmt.Errorf("it signs as %s, not as %s", arn, want)
			}
			return arn, n, nil
		}
		last = err
		if !retryable(err) || n == o.VerifyAttempts {
			break
		}
		o.Logger.Info("new access key not accepted yet; waiting", "key", k.AccessKeyID, "attempt", n, "wait", wait, "error", errorCode(err))
		if werr := sleep(ctx, o.Clock, wait); werr != nil {
			return "", n, fmt.Errorf("%w while waiting for it to work (last: %v)", werr, err)
		}
		if wait < 8*o.VerifyBackoff {
			wait *= 2
		}
	}
	return "", o.VerifyAttempts, fmt.Errorf("sts:GetCallerIdentity with it failed: %w", last)
}

// retryable reports errors a new key meets while IAM propagates it, and
// passing service trouble.
func retryable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"InternalFailure", "InternalError", "ServiceUnavailable":
			return true
		}
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	done := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

func deleteKey(ctx context.Context, c *iam.Client, id string) error {
	_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(id)})
	return err
}

// iamClient is an IAM client signing with the MFA session.
func iamClient(o Options, in Input) *iam.Client {
	cfg := aws.Config{
		Region:      SigningRegion(in.Region),
		Credentials: credentials.StaticCredentialsProvider{Value: in.Session},
		HTTPClient:  o.HTTPClient,
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	return iam.NewFromConfig(cfg, func(io *iam.Options) {
		if o.IAMEndpoint != "" {
			io.BaseEndpoint = aws.String(o.IAMEndpoint)
		}
		io.HTTPSignerV4 = session.ClockSigner(o.Clock, o.ClockOffset)
		// The signer's clock and offset stand in for the SDK's correction,
		// which reads the system clock.
		io.DisableClockSkewCorrection = true
		io.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 4
			so.MaxBackoff = 5 * time.Second
		})
	})
}

// SigningRegion is the region IAM requests are signed for in region's
// partition: IAM is a global service.
func SigningRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "cn-north-1"
	case strings.HasPrefix(region, "us-gov-"):
		return "us-gov-west-1"
	}
	return "us-east-1"
}

// explain adds what to do to the IAM errors users meet.
func explain(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%w (is the IAM endpoint reachable?)", err)
	}
	switch ae.ErrorCode() {
	case "AccessDenied":
		return fmt.Errorf("%w: the IAM user may not manage its own access keys (iam:ListAccessKeys, iam:CreateAccessKey, iam:DeleteAccessKey on its own user), or the MFA session is older than a policy allows (aws:MultiFactorAuthAge): run `mfad unlock` with a fresh code and try again", err)
	case "ExpiredToken":
		return fmt.Errorf("%w: the MFA session expired: run `mfad unlock`", err)
	}
	return err
}

// errorCode is the AWS error code of err, for logs.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "request failed"
}

func firstWord(s []string) string {
	if len(s) == 0 {
		return "KEY"
	}
	w, _, _ := strings.Cut(s[0], " ")
	return w
}

// KeyCreated asks IAM (iam:ListAccessKeys, which MFA policies leave
// allowed) when the user's key keyID was created.
func KeyCreated(ctx context.Context, o Options, region string, sess aws.Credentials, keyID string) (time.Time, error) {
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	c := iamClient(o, Input{Region: region, Session: sess})
	list, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		return time.Time{}, fmt.Errorf("IAM ListAccessKeys: %w", explain(err))
	}
	for _, k := range list.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == keyID && k.CreateDate != nil {
			return k.CreateDate.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("the key %s is not one of the IAM user's access keys", keyID)
}
