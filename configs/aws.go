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
}

// awsLayer is what the AWS shared config file sets.
type awsLayer struct {
	path     string
	profiles map[string]*awsProfile
	// skipped holds the profiles whose names mfad cannot use.
	skipped map[string]skippedProfile
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

	a := &awsLayer{path: path, profiles: map[string]*awsProfile{}, skipped: map[string]skippedProfile{}}
	var errs []error
	// [default] is read before [profile default] so that the latter wins.
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
			p, perrs := readAWSProfile(path, header, name, sec.KeysHash())
			if err := ValidateProfileName(name); err != nil {
				a.skipped[name] = skippedProfile{
					reason:    fmt.Sprintf("%s [%s]: skipped: %v", path, header, err),
					candidate: p.candidate || a.skipped[name].candidate,
				}
				continue
			}
			errs = append(errs, perrs...)
			if prev, ok := a.profiles[name]; ok {
				for k, v := range p.set {
					prev.set[k] = v
				}
				prev.section = header
				prev.candidate = prev.candidate || p.candidate
				continue
			}
			a.profiles[name] = p
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// readAWSProfile takes from one AWS config section the keys mfad uses.
func readAWSProfile(path, header, name string, kv map[string]string) (*awsProfile, []error) {
	get := func(k string) string { return strings.TrimSpace(kv[k]) }
	p := &awsProfile{section: header, set: settings{}}
	roleARN := get(keyRoleARN)
	for _, k := range []string{keyMFASerial, keyRegion, keyRoleARN} {
		if v := get(k); v != "" {
			p.set[k] = v
		}
	}
	if roleARN != "" {
		// These only mean something to a role profile. A role profile
		// naming itself as source_profile holds its own keys, which is
		// mfad's default.
		if v := get(keySourceProfile); v != "" && v != name {
			p.set[keySourceProfile] = v
		}
		for _, k := range []string{keyRoleSessionName, keyExternalID} {
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
	otherSource := get("credential_source") != "" || get("web_identity_token_file") != ""
	p.candidate = get(keyMFASerial) != "" || (roleARN != "" && !otherSource)
	return p, errs
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
