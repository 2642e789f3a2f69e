package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// awsProfile is one profile of the AWS shared config file.
type awsProfile struct {
	// section is the section header as written, for messages.
	section string
	// set holds the keys mfad takes from the section.
	set settings
	// candidate is true when the profile is mfad's business by itself: it
	// names an MFA device, or a role to assume with long-term keys.
	candidate bool
	// notServed says why a profile that concerns MFA is not served ("" when
	// nothing stands in the way).
	notServed string
}

// awsLayer is what the AWS shared config file sets.
type awsLayer struct {
	path     string
	profiles map[string]*awsProfile
	// skipped holds the profiles whose names mfad cannot use.
	skipped map[string]skippedProfile
	// notServed maps profiles mfad cannot serve to the reason.
	notServed map[string]string
	// defaultMFASerial and defaultMFAProcess are what [default] sets: the
	// last resort for a profile with no MFA device.
	defaultMFASerial, defaultMFAProcess string
}

// skippedProfile is an AWS profile mfad cannot use.
type skippedProfile struct {
	reason    string
	candidate bool
}

// at names where a profile is written, for messages.
func (a *awsLayer) at(name string) string {
	return fmt.Sprintf("%s [%s]", a.path, a.profiles[name].section)
}

// DefaultAWSConfigPath returns the AWS shared config file mfad reads:
// $AWS_CONFIG_FILE, else HOME/.aws/config ("" when neither is known).
func DefaultAWSConfigPath(getenv func(string) string, home string) string {
	if getenv != nil {
		if p := getenv("AWS_CONFIG_FILE"); p != "" {
			return expandHome(p, home)
		}
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".aws", "config")
}

// readAWS reads the AWS shared config file at path. A missing file yields
// (nil, nil).
func readAWS(path string) (*awsLayer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read AWS config file %s; check that it is a regular file you can read, or point AWS_CONFIG_FILE elsewhere: %w", path, err)
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		// The AWS CLI reads keys case-insensitively, has no inline
		// comments nor line continuations, and nests sub-settings (s3 =
		// followed by indented lines).
		InsensitiveKeys:       true,
		IgnoreInlineComment:   true,
		IgnoreContinuation:    true,
		AllowNestedValues:     true,
		ChildSectionDelimiter: "\x00",
	}, data)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed AWS config file; fix the line named here (the AWS CLI cannot read it either): %w", path, err)
	}

	a := &awsLayer{path: path, profiles: map[string]*awsProfile{}, skipped: map[string]skippedProfile{}, notServed: map[string]string{}}
	// The sections of each profile, [default] before [profile default] so
	// that the latter wins key by key.
	raw := map[string]*rawAWSProfile{}
	var order []string
	for _, wantDefault := range []bool{true, false} {
		for _, sec := range f.Sections() {
			header := sec.Name()
			var name string
			switch {
			case header == "default":
				if !wantDefault {
					continue
				}
				name = "default"
			case strings.HasPrefix(header, "profile ") || strings.HasPrefix(header, "profile\t"):
				if wantDefault {
					continue
				}
				name = strings.TrimSpace(header[len("profile "):])
			default:
				// DEFAULT (keys before any section), sso-session,
				// services and anything else are not profiles.
				continue
			}
			r := raw[name]
			if r == nil {
				r = &rawAWSProfile{kv: map[string]string{}}
				raw[name] = r
				order = append(order, name)
			}
			r.header = header
			for k, v := range sec.KeysHash() {
				if v = strings.TrimSpace(v); v != "" {
					r.kv[k] = v
				}
			}
		}
	}

	var errs []error
	for _, name := range order {
		r := raw[name]
		kv, err := inheritAWS(raw, name)
		if err != nil {
			// aws-vault fails only when such a profile is used: so does mfad.
			if ValidateProfileName(name) == nil {
				a.profiles[name] = &awsProfile{section: r.header, set: settings{}, notServed: err.Error()}
				a.notServed[name] = err.Error()
			}
			continue
		}
		p, perrs := readAWSProfile(path, r.header, name, kv)
		if err := ValidateProfileName(name); err != nil {
			a.skipped[name] = skippedProfile{
				reason:    fmt.Sprintf("%s [%s]: skipped: %v", path, r.header, err),
				candidate: p.candidate,
			}
			continue
		}
		errs = append(errs, perrs...)
		if p.notServed != "" {
			a.notServed[name] = p.notServed
		}
		a.profiles[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if d := raw["default"]; d != nil {
		a.defaultMFASerial, a.defaultMFAProcess = d.kv[keyMFASerial], d.kv[keyMFAProcess]
	}
	return a, nil
}

// rawAWSProfile is what the sections of one profile set, as written.
type rawAWSProfile struct {
	header string
	kv     map[string]string
}

// inheritedAWSKeys are the keys a profile takes from the profile it names
// in include_profile when it does not set them itself: the profile keys
// aws-vault reads, which defines include_profile.
func inheritedAWSKeys() []string {
	return []string{
		keyMFASerial, keyRoleARN, keyExternalID, keyRegion, keyRoleSessionName, "duration_seconds",
		keySourceProfile, "sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name",
		"web_identity_token_file", "web_identity_token_process", "sts_regional_endpoints", "endpoint_url",
		"session_tags", "transitive_session_tags", keySourceIdentity, "credential_process", keyMFAProcess,
	}
}

// inheritAWS returns the keys of profile name with those it inherits
// through include_profile: each key it does not set comes from the profile
// named there, followed in turn, as aws-vault reads ~/.aws/config.
//
// aws-vault also fills every profile from [default] at the end of that
// chain; the AWS CLI has no such inheritance, and reads region, role_arn
// and the rest from the named profile alone. mfad follows the AWS CLI there,
// except for the MFA device: a profile left with none anywhere takes
// [default]'s mfa_serial (and its mfa_process), as aws-vault would (see
// loader.inheritMFASerial).
func inheritAWS(raw map[string]*rawAWSProfile, name string) (map[string]string, error) {
	kv := map[string]string{}
	for k, v := range raw[name].kv {
		kv[k] = v
	}
	seen := map[string]bool{name: true}
	chain := []string{name}
	for cur := name; raw[cur].kv["include_profile"] != ""; {
		next := raw[cur].kv["include_profile"]
		if seen[next] {
			return nil, fmt.Errorf("include_profile forms a loop (%s -> %s); remove include_profile from one of them", strings.Join(chain, " -> "), next)
		}
		if raw[next] == nil {
			return nil, fmt.Errorf("include_profile names %q, which is not a profile of %s; add [profile %s] or correct the name", next, "this file", next)
		}
		seen[next] = true
		chain = append(chain, next)
		for _, k := range inheritedAWSKeys() {
			if _, ok := kv[k]; !ok {
				if v, ok := raw[next].kv[k]; ok {
					kv[k] = v
				}
			}
		}
		cur = next
	}
	if kv[keySourceProfile] == name {
		// A profile naming itself holds its own keys.
		delete(kv, keySourceProfile)
	}
	return kv, nil
}

// readAWSProfile takes from one AWS config profile (with what it inherits)
// the keys mfad uses.
func readAWSProfile(path, header, name string, kv map[string]string) (*awsProfile, []error) {
	get := func(k string) string { return kv[k] }
	p := &awsProfile{section: header, set: settings{}}
	roleARN := get(keyRoleARN)
	for _, k := range []string{keyMFASerial, keyRegion, keyRoleARN, keyMFAProcess} {
		if v := get(k); v != "" {
			p.set[k] = v
		}
	}
	if roleARN != "" {
		// These only mean something to a role profile.
		for _, k := range []string{keySourceProfile, keyRoleSessionName, keyExternalID, keySourceIdentity} {
			if v := get(k); v != "" {
				p.set[k] = v
			}
		}
	}
	var errs []error
	if v := get("duration_seconds"); v != "" && roleARN != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s [%s]: duration_seconds: %q is not a whole number of seconds; write it as, for example, 3600", path, header, v))
		} else if d, err := secondsDuration(n); err != nil {
			errs = append(errs, fmt.Errorf("%s [%s]: duration_seconds: %w", path, header, err))
		} else {
			p.set[keyRoleDuration] = d
		}
	}
	// A role whose credentials come from the instance, the container or a
	// web identity token is assumed without long-term keys or MFA.
	otherSource := get("credential_source") != "" || get("web_identity_token_file") != "" || get("web_identity_token_process") != ""
	relevant := get(keyMFASerial) != "" || (roleARN != "" && !otherSource)
	if relevant {
		p.notServed = unservedReason(kv)
	}
	p.candidate = relevant && p.notServed == ""
	return p, errs
}

// unservedReason says why mfad cannot serve a profile that concerns MFA:
// it sets a key that changes where its credentials come from, or what
// AssumeRole is asked, and that mfad does not use. "" when there is none.
func unservedReason(kv map[string]string) string {
	if v := kv["credential_process"]; v != "" && !IsMFADCredentialProcess(v) {
		return "it gets its credentials from credential_process, which mfad does not run"
	}
	for _, k := range []string{"sso_session", "sso_start_url", "sso_account_id", "sso_role_name"} {
		if kv[k] != "" {
			return fmt.Sprintf("it signs in through IAM Identity Center (%s), which mfad does not do", k)
		}
	}
	for _, k := range []string{"web_identity_token_file", "web_identity_token_process"} {
		if kv[k] != "" {
			return fmt.Sprintf("it assumes its role with a web identity token (%s), which mfad does not do", k)
		}
	}
	if kv["credential_source"] != "" {
		return "its source credentials come from credential_source (the instance or container), not from keys mfad holds"
	}
	for _, k := range []string{"session_tags", "transitive_session_tags"} {
		if kv[k] != "" {
			return fmt.Sprintf("it sets %s, which mfad does not pass to AssumeRole", k)
		}
	}
	return ""
}

// IsMFADCredentialProcess reports whether a credential_process command runs
// `mfad credential-process`, which is mfad serving the profile.
func IsMFADCredentialProcess(command string) bool {
	f := strings.Fields(command)
	if len(f) < 2 || f[1] != "credential-process" {
		return false
	}
	base := filepath.Base(strings.Trim(f[0], `"'`))
	return base == "mfad" || base == "mfad.exe"
}

// expandHome replaces a leading "~" with home.
func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return filepath.Join(home, p[2:])
	}
	return p
}
