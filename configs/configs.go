// Package configs loads mfad's configuration: its own YAML file, MFAD_*
// environment overrides, and profiles from the AWS shared config file.
package configs

import "time"

// Config is mfad's whole configuration after every source has been merged.
type Config struct {
	// File is the mfad configuration file that was read ("" when none exists).
	File string
	// Path is where mfad looks for its configuration file: File when one was
	// read, else the default location ("" when no home directory is known).
	// Commands that write configuration use it.
	Path string
	// AWSConfigFile is the AWS shared config file that was read ("" when none exists).
	AWSConfigFile string
	// Warnings lists AWS shared config profiles that were skipped and why.
	// Loading still succeeded; commands may show them to the user.
	Warnings []string
	// NotServed maps AWS shared config profiles that concern MFA but that
	// mfad does not serve to the reason (such as a credential source mfad
	// does not drive).
	NotServed map[string]string
	// Keyring selects where secrets are kept.
	Keyring Keyring
	// Listen is the credentials endpoint's address; it must be 127.0.0.1:PORT (0 = any free port).
	Listen string
	// STSEndpoint overrides the STS endpoint URL ("" = AWS's own, or AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL).
	STSEndpoint string
	// IAMEndpoint overrides the IAM endpoint URL, for key rotation ("" =
	// AWS's own, or AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL).
	IAMEndpoint string
	// SigninEndpoint overrides the console federation endpoint URL, for
	// `mfad login` ("" = AWS's own for the profile's partition, e.g.
	// https://signin.aws.amazon.com/federation).
	SigninEndpoint string
	// LockOnSleep locks every profile when the system is about to sleep
	// (Linux, through logind).
	LockOnSleep bool
	// LockOnScreenLock locks every profile when the desktop session's screen
	// locks (Linux, through logind).
	LockOnScreenLock bool
	// Profiles maps profile names to their settings.
	Profiles map[string]*Profile
}

// Keyring backends.
const (
	KeyringAuto = "auto"
	KeyringOS   = "os"
	KeyringFile = "file"
)

// Profile sources, as listed in Profile.Sources.
const (
	SourceAWS  = "aws"
	SourceMFAD = "mfad"
)

// Keyring selects the secret store backend.
type Keyring struct {
	// Backend is "auto", "os" or "file".
	Backend string
	// File is the encrypted file store's path (backend "file"; default
	// $XDG_DATA_HOME/mfad/keystore.enc, else ~/.local/share/mfad/keystore.enc).
	File string
}

// MFA code sources.
const (
	MFASourcePrompt  = "prompt"
	MFASourceProcess = "process"
	MFASourceTOTP    = "totp"
)

// NewProfile returns a profile named name with every default set. It is
// the one place the defaults are applied: Load fills each key no source set
// from it, and code that builds a configuration by hand starts from it.
func NewProfile(name string) *Profile {
	return &Profile{
		Name:              name,
		Region:            DefaultRegion,
		SessionDuration:   DefaultSessionDuration,
		RoleDuration:      DefaultRoleDuration,
		MFASource:         MFASourcePrompt,
		MFAProcessTimeout: DefaultMFAProcessTimeout,
		RefreshLead:       DefaultRefreshLead,
		MFALead:           DefaultMFALead,
	}
}

// Profile is one named set of credentials settings.
type Profile struct {
	// Name is the profile's name.
	Name string
	// MFASerial is the MFA device: a virtual device ARN or a hardware serial.
	MFASerial string
	// Region is the AWS region used for STS and handed to clients.
	Region string
	// RegionIsDefault reports that Region is mfad's fallback, set nowhere
	// (not in a file nor by AWS_REGION): clients keep the region they find
	// themselves. A region set to the same value is not the default.
	RegionIsDefault bool
	// RoleARN, when set, makes this a role profile: the role is assumed from the MFA session.
	RoleARN string
	// RoleSessionName names the assumed role session ("" = mfad picks one).
	RoleSessionName string
	// ExternalID is passed to AssumeRole when set.
	ExternalID string
	// SourceIdentity is passed to AssumeRole when set: it stays with the
	// role session and shows in CloudTrail.
	SourceIdentity string
	// SourceProfile names the profile whose long-term keys and MFA session a role profile uses.
	SourceProfile string
	// SessionDuration is the GetSessionToken duration (default 12h).
	SessionDuration time.Duration
	// RoleDuration is the AssumeRole duration (default 1h; chained role sessions are capped at 1h by AWS).
	RoleDuration time.Duration
	// MFAMaxAge is the aws:MultiFactorAuthAge window to honour (0 = none).
	MFAMaxAge time.Duration
	// MFASource is where codes come from: prompt, process or totp.
	MFASource string
	// MFAProcess is the command that prints a code (MFASource process).
	MFAProcess string
	// MFADialog asks for codes in a desktop dialog when MFASource is prompt:
	// "" (none), auto, zenity, kdialog or osascript.
	MFADialog string
	// MFAProcessTimeout bounds MFAProcess (default 30s).
	MFAProcessTimeout time.Duration
	// RefreshLead is how long before a served expiry the upstream session is renewed (default 20m).
	RefreshLead time.Duration
	// MFALead is how long before the MFA window or the MFA session ends a new code is asked for (default 15m).
	MFALead time.Duration
	// PolicyFiles are IAM policy documents that apply to the user, used to suggest MFAMaxAge.
	PolicyFiles []string
	// KeyMaxAge is the age past which the profile's access key is due for
	// rotation (0 = never reported).
	KeyMaxAge time.Duration
	// Sources says where the profile was defined: "mfad", "aws" or both.
	Sources []string
}

// KeyProfile names the profile whose long-term keys and MFA session this
// profile uses: SourceProfile for role profiles that name one, else itself.
func (p *Profile) KeyProfile() string {
	if p.SourceProfile != "" {
		return p.SourceProfile
	}
	return p.Name
}

// IsRole reports whether the profile assumes a role (RoleARN is set).
func (p *Profile) IsRole() bool { return p.RoleARN != "" }
