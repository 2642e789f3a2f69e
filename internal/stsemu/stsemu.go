// Package stsemu is a strict emulator of the AWS Security Token Service
// (STS) Query API, used by mfad's tests and by the `mfad sandbox` command.
//
// The emulator speaks the STS Query protocol (form-encoded requests with
// Action=...&Version=2011-06-15 and XML responses shaped like AWS's), checks
// SigV4 signatures with the AWS SDK signer, validates MFA codes with TOTP,
// and issues temporary credentials that can sign later requests until they
// expire. It aims to be as strict as AWS so that a client that works against
// the emulator also works against AWS. The supported STS actions are
// GetCallerIdentity, GetSessionToken and AssumeRole.
//
// The same server answers the IAM Query API calls a key rotation makes
// (ListAccessKeys, CreateAccessKey, DeleteAccessKey; Version=2010-05-08,
// signed for service iam in us-east-1), with AWS's two-key quota, the rule
// that GetSessionToken credentials call IAM only when made with MFA, and,
// for users given RequireMFA, the MFA policy AWS documents. At
// FederationPath it answers the console federation endpoint
// (getSigninToken and login), as strict as AWS about the credentials it
// accepts.
//
// Every time decision (credential expiry, TOTP windows, signature time skew)
// is taken from the injected clock, so tests can advance time without
// sleeping.
package stsemu

import (
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// DefaultAccount is the account id used when Options.Account is empty.
const DefaultAccount = "123456789012"

// Session kinds reported by SessionInfo.Kind.
const (
	// KindSession marks credentials issued by GetSessionToken.
	KindSession = "session"
	// KindRole marks credentials issued by AssumeRole.
	KindRole = "role"
)

// Options configures an Emulator.
type Options struct {
	// Now is the clock; nil means time.Now. All time decisions use it:
	// credential expiry, TOTP validation and signature time skew.
	Now func() time.Time
	// MFANow, when set, is the clock of the MFA devices: TOTP codes are
	// checked at its time instead of Now's (still once per step and
	// device). A sandbox whose devices' time may run ahead sets it.
	MFANow func() time.Time
	// Account is the 12-digit account id; "" means DefaultAccount.
	Account string
	// Region is the signing region accepted in the SigV4 credential scope;
	// "" accepts any region (the service must still be "sts").
	Region string
	// Logger receives request logs; nil discards them. Secrets, session
	// tokens and MFA codes are never logged.
	Logger *slog.Logger
}

// User is an IAM user known to the emulator, with its long-term access key
// and, unless created by AddUserWithoutMFA, a virtual MFA device.
type User struct {
	// Name is the IAM user name.
	Name string
	// ARN is arn:aws:iam::ACCOUNT:user/NAME.
	ARN string
	// AccessKeyID is the long-term key id (AKIA...).
	AccessKeyID string
	// SecretAccessKey is the long-term secret (40 characters).
	SecretAccessKey string
	// MFASerial is the virtual MFA device ARN, arn:aws:iam::ACCOUNT:mfa/NAME,
	// or "" for a user without MFA.
	MFASerial string
	// TOTPSecret is the base32 TOTP seed of the MFA device, or "".
	TOTPSecret string
}

// RoleOptions configures a role created by AddRole.
type RoleOptions struct {
	// RequireMFA makes the role's trust policy require an MFA-authenticated
	// caller (aws:MultiFactorAuthPresent): either the calling session was
	// MFA-authenticated or the AssumeRole call carries SerialNumber and
	// TokenCode.
	RequireMFA bool
	// MaxSessionDuration is the role's maximum session duration; zero means
	// one hour. Values are clamped to the range AWS allows, 1h to 12h, and
	// truncated to whole seconds.
	MaxSessionDuration time.Duration
	// TrustedUsers lists the names of the IAM users allowed to assume the
	// role; empty trusts every user of the account. For role chaining the
	// user behind the calling session is checked.
	TrustedUsers []string
	// ExternalID, when not empty, must be passed as ExternalId by callers.
	ExternalID string
	// AllowSourceIdentity makes the trust policy allow
	// sts:SetSourceIdentity: without it, a call that sets SourceIdentity is
	// denied, as AWS denies it.
	AllowSourceIdentity bool
	// SourceIdentity, when not empty, is the source identity the trust
	// policy demands (an sts:SourceIdentity condition); it implies
	// AllowSourceIdentity.
	SourceIdentity string
}

// Call is one entry of the emulator's call log. It never holds secrets,
// session tokens or MFA codes.
type Call struct {
	// Time is the emulator clock when the request was handled.
	Time time.Time
	// RequestID is the request id returned to the client.
	RequestID string
	// Action is the requested Action parameter, as sent.
	Action string
	// AccessKeyID is the key id named in the request's credential scope,
	// whether or not it authenticated.
	AccessKeyID string
	// WithMFA reports whether the request carried SerialNumber and TokenCode.
	WithMFA bool
	// Status is the HTTP status returned; 499 when the client went away
	// during injected latency.
	Status int
	// ErrorCode is the AWS error code returned, "" on success.
	ErrorCode string
}

// Fault is an injected failure, applied to the next matching calls before
// authentication.
type Fault struct {
	// Action restricts the fault to one action; "" matches any request.
	Action string
	// Status is the HTTP status to return. Zero means 400, or 500 for
	// InternalFailure and 503 for ServiceUnavailable. A fault with neither
	// Status nor Code only adds latency.
	Status int
	// Code is the AWS error code, e.g. "Throttling". "" with a non-zero
	// Status means InternalFailure (5xx) or Throttling (4xx).
	Code string
	// Message is the error message; "" uses AWS's usual text for the code.
	Message string
	// Latency delays the response, honouring the request context.
	Latency time.Duration
	// Times is how many matching calls the fault applies to; 0 means 1.
	Times int
}

// ClearFaults drops every queued fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// SessionInfo describes issued temporary credentials, for tests.
type SessionInfo struct {
	// Kind is KindSession (GetSessionToken) or KindRole (AssumeRole).
	Kind string
	// UserName is the IAM user at the origin of the session.
	UserName string
	// RoleARN is the assumed role's ARN for KindRole, else "".
	RoleARN string
	// SessionName is the RoleSessionName for KindRole, else "".
	SessionName string
	// SourceIdentity is the role session's source identity ("" when none).
	SourceIdentity string
	// MFAAuthenticated reports whether MFA was validated for the session or
	// for the session it was derived from.
	MFAAuthenticated bool
	// MFAAuthTime is the clock time of that MFA validation (zero if none).
	MFAAuthTime time.Time
	// IssuedAt is the clock time the credentials were issued.
	IssuedAt time.Time
	// Expiration is when the credentials stop working.
	Expiration time.Time
}

// Emulator is an STS Query API emulator. It is an http.Handler and is safe
// for concurrent use.
type Emulator struct {
	now     func() time.Time
	mfaNow  func() time.Time
	account string
	region  string
	log     *slog.Logger
	signer  *v4.Signer

	mu       sync.Mutex
	users    map[string]*user    // by name
	keys     map[string]*longKey // by long-term access key id
	roles    map[string]*role    // by ARN
	sessions map[string]*session // by temporary access key id
	calls    []Call
	faults   []*pendingFault
	signins  map[string]*signin // federation sign-in tokens
	// lifetimes caps the lifetime of issued credentials, by action.
	lifetimes map[string]time.Duration
	// latency delays every response.
	latency time.Duration
	// held, while not nil, holds every response until it is closed.
	held chan struct{}
	// waiting counts the requests being held.
	waiting atomic.Int32
	// offset is added to the clock: STS's time differs from the caller's.
	offset time.Duration
}

// SetMaxLifetime makes action ("GetSessionToken" or "AssumeRole"; "" for
// both) issue credentials that last at most d, whatever duration was asked
// for: STS may return credentials that expire sooner than requested. Zero
// removes the cap.
func (e *Emulator) SetMaxLifetime(action string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lifetimes == nil {
		e.lifetimes = map[string]time.Duration{}
	}
	for _, a := range []string{"GetSessionToken", "AssumeRole"} {
		if action == "" || action == a {
			e.lifetimes[a] = d
		}
	}
}

// SetLatency delays every response by d (real time), honouring the
// request's context; faults' latency adds to it.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// Hold holds every response, from this call on, until release is called
// (or the request's context ends): an STS that answers only when the test
// says so. Requests that arrive after release are answered at once.
func (e *Emulator) Hold() (release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	held := make(chan struct{})
	e.held = held
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			if e.held == held {
				e.held = nil
			}
			e.mu.Unlock()
			close(held)
		})
	}
}

// Waiting returns how many requests Hold is holding now.
func (e *Emulator) Waiting() int { return int(e.waiting.Load()) }

// SetClockOffset makes the emulator's clock run d ahead of its Now option
// (behind when negative): a caller whose clock is off by -d. Every time
// decision follows it: expiries, the Date header, signature time skew and
// TOTP windows.
func (e *Emulator) SetClockOffset(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.offset = d
}

// Now returns the emulator's time.
func (e *Emulator) Now() time.Time {
	e.mu.Lock()
	off := e.offset
	e.mu.Unlock()
	return e.now().Add(off)
}

// maxLifetime is the cap on action's credentials (0 = none). The caller
// holds e.mu.
func (e *Emulator) maxLifetime(action string) time.Duration {
	return e.lifetimes[action]
}

type user struct {
	name, arn, uniqueID string
	accessKeyID, secret string // the key the user was created with
	mfaSerial           string
	totpSecret          string
	otpURL              string
	usedSteps           map[int64]struct{} // accepted TOTP time steps
	// keys are the user's access keys, oldest first (AWS allows two).
	keys []*longKey
	// mfaPolicy attaches the policy that denies most actions unless the
	// request is MFA-authenticated (see RequireMFA).
	mfaPolicy bool
}

// longKey is a long-term access key of a user.
type longKey struct {
	user    *user
	id      string
	secret  string
	status  string // "Active" or "Inactive"
	created time.Time
}

type role struct {
	name, arn, uniqueID string
	requireMFA          bool
	maxSession          time.Duration
	trusted             map[string]struct{} // user names; empty = all
	externalID          string
	allowSourceID       bool
	sourceID            string
}

type session struct {
	kind                string
	accessKeyID, secret string
	token               string
	user                *user
	role                *role // KindRole only
	sessionName         string
	sourceIdentity      string // KindRole only; "" when none was set
	// chained marks a role session assumed with temporary credentials.
	chained          bool
	mfaAuthenticated bool
	mfaAuthTime      time.Time
	issuedAt         time.Time
	expiration       time.Time
}

type pendingFault struct {
	Fault
	remaining int
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]{1,64}$`) })

// New returns an emulator with no users or roles.
func New(opts Options) *Emulator {
	e := &Emulator{
		now:      opts.Now,
		mfaNow:   opts.MFANow,
		account:  opts.Account,
		region:   opts.Region,
		log:      opts.Logger,
		signer:   v4.NewSigner(),
		users:    make(map[string]*user),
		keys:     make(map[string]*longKey),
		roles:    make(map[string]*role),
		sessions: make(map[string]*session),
		signins:  make(map[string]*signin),
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.account == "" {
		e.account = DefaultAccount
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

// Account returns the emulated account id.
func (e *Emulator) Account() string { return e.account }

// AddUser creates an IAM user with a long-term access key and a virtual MFA
// device (arn:aws:iam::ACCOUNT:mfa/NAME) with a fresh random TOTP secret.
func (e *Emulator) AddUser(name string) (User, error) {
	return e.addUser(name, true)
}

// AddUserWithoutMFA creates an IAM user with a long-term access key and no
// MFA device.
func (e *Emulator) AddUserWithoutMFA(name string) (User, error) {
	return e.addUser(name, false)
}

func (e *Emulator) addUser(name string, withMFA bool) (User, error) {
	if !nameRE().MatchString(name) {
		return User{}, fmt.Errorf("stsemu: invalid IAM user name %q", name)
	}
	now := e.now()
	u := &user{
		name:        name,
		arn:         "arn:aws:iam::" + e.account + ":user/" + name,
		uniqueID:    uniqueID("AIDA"),
		accessKeyID: accessKeyID("AKIA"),
		secret:      secretAccessKey(),
		usedSteps:   make(map[int64]struct{}),
	}
	if withMFA {
		key, err := totp.Generate(totp.GenerateOpts{
			Issuer:      "Amazon Web Services",
			AccountName: name + "@" + e.account,
			SecretSize:  40,
			Algorithm:   otp.AlgorithmSHA1,
			Digits:      otp.DigitsSix,
			Period:      totpPeriod,
		})
		if err != nil {
			return User{}, fmt.Errorf("stsemu: generate TOTP secret for %q: %w", name, err)
		}
		u.mfaSerial = "arn:aws:iam::" + e.account + ":mfa/" + name
		u.totpSecret = key.Secret()
		u.otpURL = key.URL()
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.users[name]; dup {
		return User{}, fmt.Errorf("stsemu: IAM user %q already exists", name)
	}
	e.users[name] = u
	k := &longKey{user: u, id: u.accessKeyID, secret: u.secret, status: keyActive, created: now.UTC().Truncate(time.Second)}
	u.keys = append(u.keys, k)
	e.keys[k.id] = k
	return u.public(), nil
}

func (u *user) public() User {
	return User{
		Name:            u.name,
		ARN:             u.arn,
		AccessKeyID:     u.accessKeyID,
		SecretAccessKey: u.secret,
		MFASerial:       u.mfaSerial,
		TOTPSecret:      u.totpSecret,
	}
}

// AddRole creates (or replaces) the IAM role NAME and returns its ARN,
// arn:aws:iam::ACCOUNT:role/NAME.
func (e *Emulator) AddRole(name string, opts RoleOptions) string {
	maxSession := opts.MaxSessionDuration.Truncate(time.Second)
	switch {
	case maxSession == 0:
		maxSession = time.Hour
	case maxSession < time.Hour:
		maxSession = time.Hour
	case maxSession > 12*time.Hour:
		maxSession = 12 * time.Hour
	}
	r := &role{
		name:          name,
		arn:           "arn:aws:iam::" + e.account + ":role/" + name,
		uniqueID:      uniqueID("AROA"),
		requireMFA:    opts.RequireMFA,
		maxSession:    maxSession,
		trusted:       make(map[string]struct{}, len(opts.TrustedUsers)),
		externalID:    opts.ExternalID,
		allowSourceID: opts.AllowSourceIdentity || opts.SourceIdentity != "",
		sourceID:      opts.SourceIdentity,
	}
	for _, n := range opts.TrustedUsers {
		r.trusted[n] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roles[r.arn] = r
	return r.arn
}

// OTPURI returns the otpauth://totp/... URI of the user's virtual MFA
// device, as an authenticator app would scan it, or "" if the user has no
// MFA device.
func (e *Emulator) OTPURI(u User) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if iu, ok := e.users[u.Name]; ok {
		return iu.otpURL
	}
	return ""
}

// RequireMFA attaches to the user the policy AWS's documentation gives for
// MFA-protected API access ("BlockMostAccessUnlessSignedInWithMFA", with
// BoolIfExists on aws:MultiFactorAuthPresent): requests signed with the
// user's long-term keys are then denied every action except the few that
// let a user set up MFA, list their own keys and call GetSessionToken.
// sts:GetCallerIdentity is never denied, as on AWS.
func (e *Emulator) RequireMFA(userName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.users[userName]
	if !ok {
		return fmt.Errorf("stsemu: no IAM user %q", userName)
	}
	u.mfaPolicy = true
	return nil
}

// AccessKey describes a user's long-term access key, without its secret.
type AccessKey struct {
	// ID is the access key id.
	ID string
	// Status is "Active" or "Inactive".
	Status string
	// Created is when the key was created.
	Created time.Time
}

// AccessKeys lists the user's access keys, oldest first, or nil for an
// unknown user.
func (e *Emulator) AccessKeys(userName string) []AccessKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.users[userName]
	if !ok {
		return nil
	}
	out := make([]AccessKey, 0, len(u.keys))
	for _, k := range u.keys {
		out = append(out, AccessKey{ID: k.id, Status: k.status, Created: k.created})
	}
	return out
}

// AddAccessKey creates another access key for the user, as CreateAccessKey
// does (two at most), and returns its id and secret.
func (e *Emulator) AddAccessKey(userName string) (id, secret string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.users[userName]
	if !ok {
		return "", "", fmt.Errorf("stsemu: no IAM user %q", userName)
	}
	k, aerr := e.createKeyLocked(u, e.now())
	if aerr != nil {
		return "", "", aerr
	}
	return k.id, k.secret, nil
}

// Code returns the MFA code of the user's device valid at the given time,
// or "" if the user has no MFA device.
func (e *Emulator) Code(u User, at time.Time) string {
	if u.TOTPSecret == "" {
		return ""
	}
	code, err := totp.GenerateCodeCustom(u.TOTPSecret, at, totpOptions())
	if err != nil {
		return ""
	}
	return code
}

// Calls returns a copy of the call log.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Call, len(e.calls))
	copy(out, e.calls)
	return out
}

// ResetCalls empties the call log.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

// InjectFault queues a fault; queued faults apply, in order, to the next
// requests whose Action matches, each for Times requests.
func (e *Emulator) InjectFault(f Fault) {
	times := f.Times
	if times <= 0 {
		times = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &pendingFault{Fault: f, remaining: times})
}

// SessionInfo describes the temporary credentials with the given access key
// id, issued by GetSessionToken or AssumeRole. It reports false for unknown
// keys. Expired sessions are still reported.
func (e *Emulator) SessionInfo(accessKeyID string) (SessionInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[accessKeyID]
	if !ok {
		return SessionInfo{}, false
	}
	info := SessionInfo{
		Kind:             s.kind,
		UserName:         s.user.name,
		SessionName:      s.sessionName,
		SourceIdentity:   s.sourceIdentity,
		MFAAuthenticated: s.mfaAuthenticated,
		MFAAuthTime:      s.mfaAuthTime,
		IssuedAt:         s.issuedAt,
		Expiration:       s.expiration,
	}
	if s.role != nil {
		info.RoleARN = s.role.arn
	}
	return info, true
}
