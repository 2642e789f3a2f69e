package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/clock"
	"github.com/c0950fac/mfad/keystore"
)

// AWS's limits on session durations.
const (
	MinDuration             = 15 * time.Minute
	MaxSessionTokenDuration = 36 * time.Hour
	MaxRoleDuration         = 12 * time.Hour
	// MaxChainedRoleDuration is AWS's cap on a role assumed with temporary
	// credentials (role chaining), which is how mfad assumes roles.
	MaxChainedRoleDuration = time.Hour
)

// Broker calls STS for mfad. Its zero value is not usable; see NewBroker.
type Broker struct {
	endpoint   string
	clock      clock.Clock
	httpClient *http.Client
	log        *slog.Logger
	attempts   int
	maxBackoff time.Duration
	// skew is STS's clock against b.clock, measured at every call.
	skew skewMeter
}

// BrokerOptions configure a Broker.
type BrokerOptions struct {
	// Endpoint overrides the STS endpoint URL ("" = AWS's regional endpoint).
	// ResolveEndpoint computes it from the configuration and environment.
	Endpoint string
	// Clock signs requests and stamps sessions; nil = the system clock.
	Clock clock.Clock
	// HTTPClient sends requests; nil = a client with sensible timeouts.
	HTTPClient *http.Client
	// Logger receives one line per STS call; nil = discard.
	Logger *slog.Logger
	// MaxAttempts bounds the attempts of calls that carry no MFA code
	// (default 5). Calls with a code are made exactly once.
	MaxAttempts int
	// MaxBackoff bounds the wait between attempts (default 5s).
	MaxBackoff time.Duration
}

// NewBroker returns a Broker.
func NewBroker(o BrokerOptions) *Broker {
	b := &Broker{endpoint: o.Endpoint, clock: o.Clock, httpClient: o.HTTPClient, log: o.Logger,
		attempts: o.MaxAttempts, maxBackoff: o.MaxBackoff}
	if b.clock == nil {
		b.clock = clock.System{}
	}
	if b.httpClient == nil {
		b.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.attempts <= 0 {
		b.attempts = 5
	}
	if b.maxBackoff <= 0 {
		b.maxBackoff = 5 * time.Second
	}
	return b
}

// ResolveEndpoint picks the STS endpoint: the configuration's sts_endpoint,
// else AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else "" (AWS's own).
func ResolveEndpoint(configured string, getenv func(string) string) string {
	if configured != "" {
		return configured
	}
	if v := getenv("AWS_ENDPOINT_URL_STS"); v != "" {
		return v
	}
	return getenv("AWS_ENDPOINT_URL")
}

var codeRE = regexp.MustCompile(`^[0-9]{6}$`)

// ValidateCode checks that code is a 6-digit one-time code.
func ValidateCode(code string) error {
	if !codeRE.MatchString(code) {
		return errors.New("an MFA code is exactly 6 digits, as your authenticator app shows it")
	}
	return nil
}

// ValidateSessionDuration checks a GetSessionToken duration against AWS's limits.
func ValidateSessionDuration(d time.Duration) error {
	if d < MinDuration || d > MaxSessionTokenDuration {
		return fmt.Errorf("session_duration %s is outside AWS's GetSessionToken range of 15m to 36h (900 to 129600 seconds)", d)
	}
	return nil
}

// ValidateRoleDuration checks an AssumeRole duration for a role assumed from
// an MFA session, which AWS caps at 1 hour (role chaining).
func ValidateRoleDuration(d time.Duration) error {
	if d < MinDuration || d > MaxRoleDuration {
		return fmt.Errorf("role_duration %s is outside AWS's AssumeRole range of 15m to 12h", d)
	}
	if d > MaxChainedRoleDuration {
		return fmt.Errorf("role_duration %s is over AWS's 1-hour limit for roles assumed from an MFA session (role chaining): set role_duration to 1h or less; mfad renews role sessions without a new code", d)
	}
	return nil
}

// clockSigner signs with the broker's clock instead of the SDK's global one,
// moved by offset (STS's clock against it) when set.
type clockSigner struct {
	inner  *v4.Signer
	clock  clock.Clock
	offset func() time.Duration
}

// ClockSigner returns a SigV4 signer for SDK clients (their HTTPSignerV4
// option) that signs at clk's time rather than the SDK's own clock, moved
// by offset (AWS's clock against clk, as Broker.ClockSkew measures it) when
// offset is not nil.
func ClockSigner(clk clock.Clock, offset func() time.Duration) interface {
	SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error
} {
	return clockSigner{inner: v4.NewSigner(), clock: clk, offset: offset}
}

// CallerIdentity calls sts:GetCallerIdentity once with creds and returns
// the caller's ARN. It is not retried: callers that wait for a new key to
// work retry it themselves.
func (b *Broker) CallerIdentity(ctx context.Context, region string, creds aws.Credentials) (string, error) {
	out, err := b.client(region, creds, true).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("GetCallerIdentity: %w", err)
	}
	return aws.ToString(out.Arn), nil
}

// Endpoint is the STS endpoint URL the broker calls ("" = AWS's).
func (b *Broker) Endpoint() string { return b.endpoint }

// HTTPClient is the client the broker sends requests with.
func (b *Broker) HTTPClient() *http.Client { return b.httpClient }

// Clock is the clock the broker signs with.
func (b *Broker) Clock() clock.Clock { return b.clock }

func (s clockSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, opts ...func(*v4.SignerOptions)) error {
	t := s.clock.Now()
	if s.offset != nil {
		t = t.Add(s.offset())
	}
	return s.inner.SignHTTP(ctx, c, r, payloadHash, service, region, t, opts...)
}

// client builds an STS client signing with creds. withCode disables retries:
// AWS accepts each MFA code once, so a retried call would fail or burn a code.
func (b *Broker) client(region string, creds aws.Credentials, withCode bool) *sts.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
		HTTPClient:  timedClient{b: b, inner: b.httpClient},
	}
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if b.endpoint != "" {
			o.BaseEndpoint = aws.String(b.endpoint)
		}
		// Requests are signed at STS's time as the broker measures it on
		// its own clock (the SDK's correction reads the system clock).
		o.HTTPSignerV4 = clockSigner{inner: v4.NewSigner(), clock: b.clock, offset: b.ClockOffset}
		o.DisableClockSkewCorrection = true
		if withCode {
			o.Retryer = aws.NopRetryer{}
			return
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = b.attempts
			so.MaxBackoff = b.maxBackoff
			so.Backoff = retry.NewExponentialJitterBackoff(b.maxBackoff)
		})
	})
}

// UnlockInput is what GetSessionToken needs.
type UnlockInput struct {
	// Profile is the key profile.
	Profile *configs.Profile
	// Key is the profile's long-term access key.
	Key keystore.AccessKey
	// Code is the current MFA code.
	Code string
}

// GetSessionToken exchanges long-term keys and an MFA code for an MFA
// session. The call is made exactly once: a code is never sent twice.
func (b *Broker) GetSessionToken(ctx context.Context, in UnlockInput) (*Session, error) {
	p := in.Profile
	if p.MFASerial == "" {
		return nil, fmt.Errorf("profile %s has no mfa_serial: set it in the mfad config (profiles.%s.mfa_serial) or ~/.aws/config, or re-add it with `mfad add %s --mfa-serial ARN --force`", p.Name, p.Name, p.Name)
	}
	if err := configs.ValidateMFASerial(p.MFASerial); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if err := ValidateCode(in.Code); err != nil {
		return nil, err
	}
	dur := p.SessionDuration
	if dur == 0 {
		dur = 12 * time.Hour
	}
	if err := ValidateSessionDuration(dur); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if err := in.Key.Validate(); err != nil {
		return nil, fmt.Errorf("profile %s: stored access key: %w", p.Name, err)
	}
	c := b.client(p.Region, aws.Credentials{AccessKeyID: in.Key.AccessKeyID, SecretAccessKey: in.Key.SecretAccessKey, Source: "mfad"}, true)
	gst := &sts.GetSessionTokenInput{
		DurationSeconds: aws.Int32(int32(dur / time.Second)),
		SerialNumber:    aws.String(p.MFASerial),
		TokenCode:       aws.String(in.Code),
	}
	at := b.clock.Now()
	signedWith := b.ClockOffset()
	out, err := c.GetSessionToken(ctx, gst)
	if err != nil && skewRefused(err, signedWith, b.ClockOffset()) {
		// Refused for its signature time before the code was looked at:
		// sent again at STS's time, the code is still unused.
		b.log.Info("sts GetSessionToken refused for the clock; sending it again at STS's time", "profile", p.Name)
		at = b.clock.Now()
		out, err = c.GetSessionToken(ctx, gst)
	}
	if err != nil {
		b.log.Warn("sts GetSessionToken failed", "profile", p.Name, "error", errorCode(err))
		if wrongSerial(err) {
			return nil, fmt.Errorf("profile %s: %w: AWS does not know %s as an MFA device of the user whose access key is stored: set mfa_serial to the ARN shown under \"Assigned MFA device\" (IAM console, your user, Security credentials, or `aws iam list-mfa-devices`); the code was not used and can be entered again (%w)",
				p.Name, ErrWrongMFASerial, p.MFASerial, err)
		}
		return nil, fmt.Errorf("profile %s: GetSessionToken: %w", p.Name, explain(err))
	}
	cr, err := credsFrom(out.Credentials, accountFromARN(p.MFASerial))
	if err != nil {
		return nil, fmt.Errorf("profile %s: GetSessionToken: %w", p.Name, err)
	}
	s := &Session{Version: cacheVersion, Kind: KindMFA, Profile: p.Name, MFASerial: p.MFASerial,
		MFAAt: at, IssuedAt: at, Credentials: cr, ClockOffset: b.ClockOffset()}
	b.log.Info("sts GetSessionToken", "profile", p.Name, "expiration", cr.Expiration.UTC())
	return s, nil
}

// AssumeRole assumes p's role with the MFA session mfa. It needs no code;
// calls are retried on throttling and server errors.
func (b *Broker) AssumeRole(ctx context.Context, p *configs.Profile, mfa *Session) (*Session, error) {
	if p.RoleARN == "" {
		return nil, fmt.Errorf("profile %s has no role_arn", p.Name)
	}
	if mfa == nil || mfa.Kind != KindMFA {
		return nil, fmt.Errorf("profile %s: an MFA session of profile %s is needed to assume %s: run `mfad unlock %s`", p.Name, p.KeyProfile(), p.RoleARN, p.KeyProfile())
	}
	dur := p.RoleDuration
	if dur == 0 {
		dur = time.Hour
	}
	if err := ValidateRoleDuration(dur); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	name := p.RoleSessionName
	if name == "" {
		name = "mfad-" + sanitizeSessionName(p.KeyProfile())
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(p.RoleARN),
		RoleSessionName: aws.String(name),
		DurationSeconds: aws.Int32(int32(dur / time.Second)),
	}
	if p.ExternalID != "" {
		in.ExternalId = aws.String(p.ExternalID)
	}
	if p.SourceIdentity != "" {
		in.SourceIdentity = aws.String(p.SourceIdentity)
	}
	c := b.client(p.Region, aws.Credentials{AccessKeyID: mfa.Credentials.AccessKeyID,
		SecretAccessKey: mfa.Credentials.SecretAccessKey, SessionToken: mfa.Credentials.SessionToken, Source: "mfad"}, false)
	at := b.clock.Now()
	signedWith := b.ClockOffset()
	out, err := c.AssumeRole(ctx, in)
	if err != nil && skewRefused(err, signedWith, b.ClockOffset()) {
		b.log.Info("sts AssumeRole refused for the clock; sending it again at STS's time", "profile", p.Name)
		at = b.clock.Now()
		out, err = c.AssumeRole(ctx, in)
	}
	if err != nil {
		b.log.Warn("sts AssumeRole failed", "profile", p.Name, "role", p.RoleARN, "error", errorCode(err))
		return nil, fmt.Errorf("profile %s: AssumeRole %s: %w", p.Name, p.RoleARN, explain(err))
	}
	cr, err := credsFrom(out.Credentials, accountFromARN(p.RoleARN))
	if err != nil {
		return nil, fmt.Errorf("profile %s: AssumeRole: %w", p.Name, err)
	}
	s := &Session{Version: cacheVersion, Kind: KindRole, Profile: p.Name, MFASerial: mfa.MFASerial,
		MFAAt: mfa.MFAAt, RoleARN: p.RoleARN, IssuedAt: at, Credentials: cr, ClockOffset: b.ClockOffset()}
	if out.AssumedRoleUser != nil {
		s.AssumedRoleARN = aws.ToString(out.AssumedRoleUser.Arn)
	}
	b.log.Info("sts AssumeRole", "profile", p.Name, "role", p.RoleARN, "expiration", cr.Expiration.UTC())
	return s, nil
}

func credsFrom(c *ststypes.Credentials, account string) (Credentials, error) {
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return Credentials{}, errors.New("STS returned incomplete credentials")
	}
	return Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		Expiration:      c.Expiration.UTC().Round(0),
		AccountID:       account,
	}, nil
}

// sanitizeSessionName keeps a role session name within [\w+=,.@-]{2,64}.
func sanitizeSessionName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 58 {
		out = out[:58]
	}
	return out
}

// accountFromARN returns the account id of an ARN, or "".
func accountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && strings.HasPrefix(arn, "arn:") && len(parts[4]) == 12 {
		return parts[4]
	}
	return ""
}

// errorCode is the AWS error code of err, for logs (never the message, which
// could in principle echo request input).
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return "request failed"
}

// ErrWrongMFASerial reports that STS refused a profile's mfa_serial: it is
// not an MFA device of the user whose access key signed the call. STS checks
// the device before the code, so the code was not used.
var ErrWrongMFASerial = errors.New("wrong mfa_serial")

// msgWrongSerial is the part of AWS's AccessDenied message that tells a
// serial number that is not the user's MFA device from a wrong code
// ("MultiFactorAuthentication failed with invalid MFA one time pass code.").
const msgWrongSerial = "Please verify your MFA serial number is valid and associated with this user"

// wrongSerial reports whether err is STS refusing the MFA serial number.
func wrongSerial(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" && strings.Contains(ae.ErrorMessage(), msgWrongSerial)
}

// CodeUsed reports whether an MFA code sent with a GetSessionToken call that
// returned err may have been used up: false only when STS refused the call
// before it looked at the code (a wrong MFA serial, an unknown access key,
// a bad signature).
func CodeUsed(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, ErrWrongMFASerial) || wrongSerial(err) {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken":
			return false
		}
	}
	return true
}

// explain adds what to do to the STS errors users meet.
func explain(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%w (is the STS endpoint reachable?)", err)
	}
	switch ae.ErrorCode() {
	case "AccessDenied":
		if strings.Contains(ae.ErrorMessage(), "MultiFactorAuthentication") {
			return fmt.Errorf("%w: the code was wrong, expired or already used: wait for the next code and try again", err)
		}
	case "InvalidClientTokenId":
		return fmt.Errorf("%w: AWS does not know the stored access key id: store a current key with `mfad add PROFILE --force`", err)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("%w: the stored secret access key is wrong, or this machine's clock is off: re-add the key with `mfad add PROFILE --force`", err)
	case "ExpiredToken":
		return fmt.Errorf("%w: the MFA session expired: run `mfad unlock`", err)
	}
	return err
}
