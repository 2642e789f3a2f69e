package configs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AWS limits that the configuration is checked against.
const (
	MinSessionDuration = 15 * time.Minute // GetSessionToken: 900 s
	MaxSessionDuration = 36 * time.Hour   // GetSessionToken: 129600 s
	MinRoleDuration    = 15 * time.Minute // AssumeRole: 900 s
	MaxRoleDuration    = 12 * time.Hour   // AssumeRole: 43200 s
	// MaxChainedRoleDuration caps a role assumed with another role's
	// credentials (role chaining).
	MaxChainedRoleDuration = time.Hour
)

// isNameChar reports whether r may appear in a profile name.
func isNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
}

// isIAMChar reports whether r is in IAM's [\w+=,.@-] class.
func isIAMChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)
}

// allRunes reports whether every rune of s satisfies ok.
func allRunes(s string, ok func(rune) bool) bool {
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}

// ValidateProfileName checks that name can name an mfad profile: 1 to 64
// letters, digits, "_", "." or "-".
func ValidateProfileName(name string) error {
	if name == "" || len(name) > 64 || !allRunes(name, isNameChar) {
		return fmt.Errorf("%q is not a valid profile name; use 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	return nil
}

// ValidateMFASerial checks that serial identifies an MFA device STS accepts:
// a virtual device ARN (arn:aws:iam::ACCOUNT_ID:mfa/NAME) or a hardware
// token's serial number (9 to 256 characters of letters, digits and
// _+=/:,.@-).
func ValidateMFASerial(serial string) error {
	const fix = "use the device ARN shown in the IAM console under Security credentials (arn:aws:iam::ACCOUNT_ID:mfa/NAME) or a hardware token's serial number"
	if strings.HasPrefix(serial, "arn:") {
		parts := strings.SplitN(serial, ":", 6)
		if len(parts) == 6 && strings.HasPrefix(parts[5], "u2f/") {
			return fmt.Errorf("%q is a FIDO security key, which STS cannot use for API sessions; register a virtual or hardware TOTP device and use its ARN", serial)
		}
		if len(parts) != 6 || !isPartition(parts[1]) || parts[2] != "iam" || parts[3] != "" ||
			len(parts[4]) != 12 || !allRunes(parts[4], isDigit) ||
			!strings.HasPrefix(parts[5], "mfa/") || !validIAMPath(strings.TrimPrefix(parts[5], "mfa/")) {
			return fmt.Errorf("%q is not an MFA device ARN; %s", serial, fix)
		}
		return nil
	}
	if len(serial) < 9 || len(serial) > 256 || !allRunes(serial, func(r rune) bool { return isIAMChar(r) || r == '/' || r == ':' }) {
		return fmt.Errorf("%q is not an MFA device; %s", serial, fix)
	}
	return nil
}

// isDigit reports whether r is an ASCII digit.
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isPartition reports whether s looks like an AWS partition (aws, aws-cn, aws-us-gov, ...).
func isPartition(s string) bool {
	return strings.HasPrefix(s, "aws") && allRunes(s[3:], func(r rune) bool { return r == '-' || r >= 'a' && r <= 'z' })
}

// validIAMPath checks an IAM resource name with an optional path
// ("alice", "division/alice").
func validIAMPath(s string) bool {
	if s == "" || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return false
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || !allRunes(seg, isIAMChar) {
			return false
		}
	}
	return true
}

// validateRoleARN checks an IAM role ARN.
func validateRoleARN(arn string) error {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !isPartition(parts[1]) || parts[2] != "iam" || parts[3] != "" ||
		len(parts[4]) != 12 || !allRunes(parts[4], isDigit) ||
		!strings.HasPrefix(parts[5], "role/") || !validIAMPath(strings.TrimPrefix(parts[5], "role/")) {
		return errors.New("is not an IAM role ARN; use the form arn:aws:iam::ACCOUNT_ID:role/NAME")
	}
	return nil
}

// validateListen checks that addr is 127.0.0.1:PORT.
func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return errors.New("mfad serves credentials on 127.0.0.1 only: other addresses are reachable by other machines or refused by AWS SDKs; use 127.0.0.1:PORT (port 0 picks a free port)")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535; use 127.0.0.1:PORT (port 0 picks a free port)", port)
	}
	return nil
}

// validateEndpoint checks that endpoint is an absolute http(s) URL.
func validateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("is not an absolute http(s) URL; write it like https://sts.eu-west-1.amazonaws.com, or leave it empty to use AWS's endpoint")
	}
	return nil
}

// validateRegion checks that region looks like an AWS region name.
func validateRegion(region string) error {
	if region == "" || strings.HasPrefix(region, "-") || strings.HasSuffix(region, "-") ||
		!allRunes(region, func(r rune) bool { return r >= 'a' && r <= 'z' || isDigit(r) || r == '-' }) {
		return errors.New("is not an AWS region name; use a name such as eu-west-1")
	}
	return nil
}

// fmtDuration renders a duration without trailing zero units (12h, not 12h0m0s).
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// validateProfiles checks each profile and the links between them, fills
// mfa_serial where it is inherited, then sets aside the AWS config
// profiles mfad cannot serve and caps what AWS caps.
func (l *loader) validateProfiles() {
	names := l.cfg.ProfileNames()
	for _, n := range names {
		l.validateProfile(n)
	}
	if !l.validateLinks(names) {
		return
	}
	l.inheritMFASerial(names)
	names = l.dropChainedRoles(names)
	l.clampRoleDurations(names)
}

// bad reports a profile key's value that cannot be used, with where it
// was set.
func (l *loader) bad(name, key string, val any, format string, args ...any) {
	shown := fmt.Sprintf("%q", val)
	if d, ok := val.(time.Duration); ok {
		shown = fmtDuration(d)
	}
	origin := l.origins[name][key]
	if origin == "" {
		origin = "the default"
	}
	l.fail("profile %q: %s %s (%s) %s", name, key, shown, origin, fmt.Sprintf(format, args...))
}

// validateProfile checks one profile on its own.
func (l *loader) validateProfile(n string) {
	p, bad := l.cfg.Profiles[n], l.bad
	if p.MFASerial != "" {
		if err := ValidateMFASerial(p.MFASerial); err != nil {
			l.fail("profile %q: mfa_serial (%s): %w", n, l.origins[n][keyMFASerial], err)
		}
	}
	if err := validateRegion(p.Region); err != nil {
		bad(n, keyRegion, p.Region, "%v", err)
	}
	if p.RoleARN != "" {
		if err := validateRoleARN(p.RoleARN); err != nil {
			bad(n, keyRoleARN, p.RoleARN, "%v", err)
		}
	}
	if s := p.RoleSessionName; s != "" && (len(s) < 2 || len(s) > 64 || !allRunes(s, isIAMChar)) {
		bad(n, keyRoleSessionName, s, "is not a valid session name; use 2 to 64 letters, digits or _+=,.@-")
	}
	if s := p.ExternalID; s != "" && (len(s) < 2 || len(s) > 1224 || !allRunes(s, func(r rune) bool { return isIAMChar(r) || r == ':' || r == '/' })) {
		bad(n, keyExternalID, s, "is not a valid external ID; use 2 to 1224 letters, digits or _+=,.@:/-")
	}
	if s := p.SourceIdentity; s != "" && (len(s) < 2 || len(s) > 64 || !allRunes(s, isIAMChar)) {
		bad(n, keySourceIdentity, s, "is not a valid source identity; use 2 to 64 letters, digits or _+=,.@- (AWS reserves the prefix aws:)")
	}
	switch p.MFADialog {
	case "", "auto", "zenity", "kdialog", "osascript":
	default:
		bad(n, keyMFADialog, p.MFADialog, "is not a dialog program; use auto, zenity, kdialog or osascript, or leave it empty")
	}
	switch p.MFASource {
	case MFASourcePrompt, MFASourceTOTP:
	case MFASourceProcess:
		if p.MFAProcess == "" {
			bad(n, keyMFASource, p.MFASource, "needs mfa_process: set it to a command that prints the current code")
		}
	default:
		bad(n, keyMFASource, p.MFASource, "is not a code source; use prompt (ask on the terminal), process (run mfa_process) or totp (compute from a stored secret)")
	}
	l.validateDurations(n, p)
}

// validateDurations checks a profile's durations and leads, each against
// AWS's range and against the others.
func (l *loader) validateDurations(n string, p *Profile) {
	bad := l.bad
	sessionOK := p.SessionDuration >= MinSessionDuration && p.SessionDuration <= MaxSessionDuration
	roleOK := p.RoleDuration >= MinRoleDuration && p.RoleDuration <= MaxRoleDuration
	maxAgeOK := p.MFAMaxAge == 0 || p.MFAMaxAge >= time.Minute
	if !sessionOK {
		bad(n, keySessionDuration, p.SessionDuration, "is out of range: GetSessionToken allows 15m to 36h (900 to 129600 seconds)")
	}
	if !roleOK {
		bad(n, keyRoleDuration, p.RoleDuration, "is out of range: AssumeRole allows 15m to 12h (900 to 43200 seconds), and no more than the role's maximum session duration")
	}
	if !maxAgeOK {
		bad(n, keyMFAMaxAge, p.MFAMaxAge, "is out of range: use 0 (no aws:MultiFactorAuthAge condition) or the condition's window, at least 1m")
	}
	if p.KeyMaxAge != 0 && p.KeyMaxAge < time.Hour {
		bad(n, keyKeyMaxAge, p.KeyMaxAge, "is out of range: use 0 (never report) or the age past which the key is due for rotation, at least 1h (e.g. 2160h for 90 days)")
	}
	if p.MFAProcessTimeout < time.Second || p.MFAProcessTimeout > 10*time.Minute {
		bad(n, keyMFAProcessTimeout, p.MFAProcessTimeout, "is out of range: use 1s to 10m")
	}
	if p.RefreshLead <= 0 || p.RefreshLead >= time.Hour {
		bad(n, keyRefreshLead, p.RefreshLead, "is out of range: use more than 0 and less than 1h")
	} else if served, key := servedDuration(p); p.RefreshLead >= served && (key == keyRoleDuration && roleOK || key == keySessionDuration && sessionOK) {
		bad(n, keyRefreshLead, p.RefreshLead, "is not shorter than %s (%s): credentials would be renewed as soon as they are issued; lower refresh_lead or raise %s", key, fmtDuration(served), key)
	}
	if p.MFALead <= 0 || p.MFALead >= time.Hour {
		bad(n, keyMFALead, p.MFALead, "is out of range: use more than 0 and less than 1h")
	} else if p.MFAMaxAge > 0 && maxAgeOK && p.MFALead >= p.MFAMaxAge {
		bad(n, keyMFALead, p.MFALead, "is not shorter than mfa_max_age (%s): a new code would be asked for at once; lower mfa_lead", fmtDuration(p.MFAMaxAge))
	} else if sessionOK && p.MFALead >= p.SessionDuration {
		bad(n, keyMFALead, p.MFALead, "is not shorter than session_duration (%s): a new code would be asked for at once; lower mfa_lead", fmtDuration(p.SessionDuration))
	}
}

// validateLinks checks source_profile: it must name another known profile,
// and no chain of them may loop. It reports whether the links can be
// followed.
func (l *loader) validateLinks(names []string) bool {
	profiles := l.cfg.Profiles
	linksOK := true
	for _, n := range names {
		p := profiles[n]
		sp := p.SourceProfile
		switch {
		case sp == "":
		case p.RoleARN == "":
			l.bad(n, keySourceProfile, sp, "is only used with role_arn: set role_arn, or remove source_profile")
		case sp == n:
			l.bad(n, keySourceProfile, sp, "names the profile itself; remove source_profile to use this profile's own keys")
			linksOK = false
		case profiles[sp] == nil:
			hint := "define it in mfad's configuration file or the AWS config file"
			if l.aws != nil {
				if s, ok := l.aws.skipped[sp]; ok {
					hint = s.reason
				}
			}
			l.bad(n, keySourceProfile, sp, "is not a known profile; %s", hint)
			linksOK = false
		}
	}
	if !linksOK {
		return false
	}
	for _, n := range names {
		seen := map[string]bool{n: true}
		path := []string{n}
		for cur := profiles[n].SourceProfile; cur != ""; cur = profiles[cur].SourceProfile {
			path = append(path, cur)
			if seen[cur] {
				if cur == n {
					l.fail("profiles %s form a cycle through source_profile; make one of them hold the long-term keys (no source_profile)", strings.Join(path, " -> "))
				}
				linksOK = false
				break
			}
			seen[cur] = true
		}
	}
	return linksOK
}

// dropChainedRoles sets aside the role profiles whose source_profile is
// itself a role profile: mfad assumes roles only from the MFA session of
// the profile that holds the long-term keys. Such a profile in mfad's own
// configuration is an error; one from the AWS config file is listed in
// NotServed with a warning. It returns the names that remain.
func (l *loader) dropChainedRoles(names []string) []string {
	profiles := l.cfg.Profiles
	// Decide on the profiles as configured, then delete: a profile's
	// source may be dropped itself.
	var kept, drop []string
	for _, n := range names {
		p := profiles[n]
		switch sp := p.SourceProfile; {
		case sp == "" || profiles[sp].RoleARN == "":
			kept = append(kept, n)
		case hasSource(p, SourceMFAD):
			l.bad(n, keySourceProfile, sp, "names a role profile: mfad assumes roles from the MFA session of the profile that holds the long-term keys; point source_profile at that profile")
		default:
			drop = append(drop, n)
		}
	}
	for _, n := range drop {
		why := fmt.Sprintf("its source_profile %s is itself a role profile, and mfad assumes roles only from an MFA session", profiles[n].SourceProfile)
		l.cfg.Warnings = append(l.cfg.Warnings, fmt.Sprintf("profile %s from %s is not served: %s", n, l.cfg.AWSConfigFile, why))
		if l.cfg.NotServed == nil {
			l.cfg.NotServed = map[string]string{}
		}
		l.cfg.NotServed[n] = why
		delete(profiles, n)
	}
	return kept
}

// clampRoleDurations caps role_duration at AWS's 1-hour limit for role
// chaining: every role mfad assumes is assumed with the MFA session's
// temporary credentials. Over the limit in mfad's own configuration is an
// error; from the AWS config file (duration_seconds), a warning.
func (l *loader) clampRoleDurations(names []string) {
	for _, n := range names {
		p := l.cfg.Profiles[n]
		if p.RoleARN == "" || p.RoleDuration <= MaxChainedRoleDuration {
			continue
		}
		if hasSource(p, SourceMFAD) && !hasSource(p, SourceAWS) {
			l.bad(n, keyRoleDuration, p.RoleDuration, "is over AWS's 1-hour limit for a role assumed from an MFA session (role chaining); set role_duration to 1h or less: mfad renews role sessions without a new code")
			continue
		}
		l.cfg.Warnings = append(l.cfg.Warnings, fmt.Sprintf("profile %s: duration_seconds %d is over AWS's 1-hour limit for a role assumed from an MFA session (role chaining); mfad uses 1h and renews the role without a new code", n, int(p.RoleDuration/time.Second)))
		p.RoleDuration = MaxChainedRoleDuration
	}
}

func hasSource(p *Profile, src string) bool {
	for _, s := range p.Sources {
		if s == src {
			return true
		}
	}
	return false
}

// servedDuration is the lifetime of the credentials a profile serves.
func servedDuration(p *Profile) (time.Duration, string) {
	if p.RoleARN != "" {
		return p.RoleDuration, keyRoleDuration
	}
	return p.SessionDuration, keySessionDuration
}

// inheritMFASerial gives every profile an MFA device. A profile that holds
// long-term keys (no source_profile) and names no device takes the one its
// role profiles name, when they agree; then role profiles that name none
// take their source profile's. names must be free of cycles.
func (l *loader) inheritMFASerial(names []string) {
	profiles := l.cfg.Profiles
	root := func(n string) string {
		for profiles[n].SourceProfile != "" {
			n = profiles[n].SourceProfile
		}
		return n
	}
	users := map[string][]string{} // root → profiles under it, sorted
	for _, n := range names {
		if r := root(n); r != n {
			users[r] = append(users[r], n)
		}
	}
	for _, r := range names {
		p := profiles[r]
		if p.SourceProfile != "" || p.MFASerial != "" {
			continue
		}
		var serials, from, fromNames []string
		for _, u := range users[r] {
			if s := profiles[u].MFASerial; s != "" && !containsString(serials, s) {
				serials = append(serials, s)
				fromNames = append(fromNames, u)
				from = append(from, fmt.Sprintf("%s: %s", u, s))
			}
		}
		if len(serials) == 0 && l.aws != nil && l.aws.defaultMFASerial != "" && r != "default" {
			// aws-vault's reading of [default]: the device of last resort.
			p.MFASerial = l.aws.defaultMFASerial
			l.origins[r][keyMFASerial] = "inherited from [default] in " + l.aws.path
			if p.MFAProcess == "" && l.aws.defaultMFAProcess != "" {
				p.MFAProcess = l.aws.defaultMFAProcess
				l.origins[r][keyMFAProcess] = "inherited from [default] in " + l.aws.path
				if l.origins[r][keyMFASource] == "the default" {
					p.MFASource = MFASourceProcess
				}
			}
			continue
		}
		switch len(serials) {
		case 0:
			hint := fmt.Sprintf("set profiles.%s.mfa_serial in %s", r, l.cfg.Path)
			if l.cfg.Path == "" {
				hint = fmt.Sprintf("set mfa_serial for %s in mfad's configuration file", r)
			}
			if len(users[r]) > 0 {
				hint += fmt.Sprintf(" (profiles %s use its MFA session)", strings.Join(users[r], ", "))
			}
			l.fail("profile %q has no MFA device; %s, or %s, to the ARN of your MFA device", r, hint, EnvVar(r, keyMFASerial))
		case 1:
			p.MFASerial = serials[0]
			l.origins[r][keyMFASerial] = "taken from profile " + fromNames[0] + ", which uses this profile as source_profile"
		default:
			l.fail("profile %q has no mfa_serial and the role profiles using it name different devices (%s); set profiles.%s.mfa_serial to the device of the user whose keys %s holds", r, strings.Join(from, "; "), r, r)
		}
	}
	// The code source goes with the device: the key profile asks for the
	// codes, and aws-vault files put mfa_process on the role profiles. A key
	// profile without one takes the one its role profiles agree on.
	for _, r := range names {
		p := profiles[r]
		if p.SourceProfile != "" || p.MFAProcess != "" {
			continue
		}
		var procs, from []string
		for _, u := range users[r] {
			if up := profiles[u]; up.MFAProcess != "" && !containsString(procs, up.MFAProcess) {
				procs = append(procs, up.MFAProcess)
				from = append(from, u)
			}
		}
		switch len(procs) {
		case 0:
		case 1:
			p.MFAProcess = procs[0]
			l.origins[r][keyMFAProcess] = "taken from profile " + from[0] + ", which uses this profile as source_profile"
			if l.origins[r][keyMFASource] == "the default" {
				p.MFASource = MFASourceProcess
			}
		default:
			l.cfg.Warnings = append(l.cfg.Warnings, fmt.Sprintf("profile %s asks for the MFA codes of profiles %s, which name different mfa_process commands; it asks on the terminal until you set its own mfa_process", r, strings.Join(from, ", ")))
		}
	}
	// Fill from the source, nearest first: walk each chain from its root.
	var fill func(n string)
	fill = func(n string) {
		p := profiles[n]
		if p.MFASerial != "" || p.SourceProfile == "" {
			return
		}
		fill(p.SourceProfile)
		if s := profiles[p.SourceProfile].MFASerial; s != "" {
			p.MFASerial = s
			l.origins[n][keyMFASerial] = "inherited from source_profile " + p.SourceProfile
		}
	}
	for _, n := range names {
		fill(n)
	}
}
