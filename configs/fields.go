package configs

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kind is the form a configuration value takes.
type kind int

const (
	kindString   kind = iota // text
	kindDuration             // Go duration string or integer seconds
	kindPaths                // list of file paths
	kindBool                 // true or false
)

// keySpec describes one configuration key.
type keySpec struct {
	key  string
	kind kind
}

// Top-level and keyring keys, as written in the file.
const (
	keyKeyring        = "keyring"
	keyProfiles       = "profiles"
	keyListen         = "listen"
	keySTSEndpoint    = "sts_endpoint"
	keyIAMEndpoint    = "iam_endpoint"
	keySigninEndpoint = "signin_endpoint"
	keyKeyringBackend = "backend"
	keyKeyringFile    = "file"
	keyLockOnSleep    = "lock_on_sleep"
	keyLockOnScreen   = "lock_on_screen_lock"
)

// Profile keys, as written in the file.
const (
	keyMFASerial         = "mfa_serial"
	keyRegion            = "region"
	keyRoleARN           = "role_arn"
	keyRoleSessionName   = "role_session_name"
	keyExternalID        = "external_id"
	keySourceIdentity    = "source_identity"
	keySourceProfile     = "source_profile"
	keySessionDuration   = "session_duration"
	keyRoleDuration      = "role_duration"
	keyMFAMaxAge         = "mfa_max_age"
	keyMFASource         = "mfa_source"
	keyMFAProcess        = "mfa_process"
	keyMFADialog         = "mfa_dialog"
	keyMFAProcessTimeout = "mfa_process_timeout"
	keyRefreshLead       = "refresh_lead"
	keyMFALead           = "mfa_lead"
	keyPolicyFiles       = "policy_files"
	keyKeyMaxAge         = "key_max_age"
)

// topKeys lists the keys allowed at the top level of the file.
func topKeys() []string {
	return []string{keyIAMEndpoint, keyKeyring, keyListen, keyLockOnScreen, keyLockOnSleep, keyProfiles, keySigninEndpoint, keySTSEndpoint}
}

// keyringKeys lists the keys allowed under keyring.
func keyringKeys() []keySpec {
	return []keySpec{{keyKeyringBackend, kindString}, {keyKeyringFile, kindString}}
}

// profileKeys lists the keys allowed in a profile, in documentation order.
func profileKeys() []keySpec {
	return []keySpec{
		{keyMFASerial, kindString},
		{keyRegion, kindString},
		{keyRoleARN, kindString},
		{keyRoleSessionName, kindString},
		{keyExternalID, kindString},
		{keySourceIdentity, kindString},
		{keySourceProfile, kindString},
		{keySessionDuration, kindDuration},
		{keyRoleDuration, kindDuration},
		{keyMFAMaxAge, kindDuration},
		{keyMFASource, kindString},
		{keyMFAProcess, kindString},
		{keyMFAProcessTimeout, kindDuration},
		{keyMFADialog, kindString},
		{keyRefreshLead, kindDuration},
		{keyMFALead, kindDuration},
		{keyPolicyFiles, kindPaths},
		{keyKeyMaxAge, kindDuration},
	}
}

// keyPaths lists every key the configuration file accepts, as dotted paths;
// profile keys appear as "profiles.NAME.KEY".
func keyPaths() []string {
	paths := []string{"keyring." + keyKeyringBackend, "keyring." + keyKeyringFile, keyListen, keySTSEndpoint, keyIAMEndpoint, keySigninEndpoint, keyLockOnSleep, keyLockOnScreen}
	for _, k := range profileKeys() {
		paths = append(paths, "profiles.NAME."+k.key)
	}
	return paths
}

// keyNames returns the names of specs, sorted.
func keyNames(specs []keySpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.key
	}
	sort.Strings(names)
	return names
}

// lookupSpec finds key in specs.
func lookupSpec(specs []keySpec, key string) (keySpec, bool) {
	for _, s := range specs {
		if s.key == key {
			return s, true
		}
	}
	return keySpec{}, false
}

// settings holds the values one source sets for a profile, by key. A key
// that is absent, or whose value was empty, is not set.
type settings map[string]any

// durationHint tells how to write a duration.
const durationHint = "use a Go duration such as 12h or 90m, or a number of seconds"

// decodeYAML converts a value read from the YAML file to the Go type of its
// kind. It reports ok=false for an empty value (null, "" or []), which leaves
// the key unset.
func decodeYAML(k kind, raw any) (v any, ok bool, err error) {
	if raw == nil {
		return nil, false, nil
	}
	switch k {
	case kindString:
		s, isString := raw.(string)
		if !isString {
			return nil, false, fmt.Errorf("%s is not text; put the value in quotes", describe(raw))
		}
		if s == "" {
			return nil, false, nil
		}
		return s, true, nil
	case kindDuration:
		var d time.Duration
		switch x := raw.(type) {
		case string:
			d, err = parseDuration(x)
		case int:
			d, err = secondsDuration(int64(x))
		case int64:
			d, err = secondsDuration(x)
		case uint64:
			if x > math.MaxInt64 {
				err = fmt.Errorf("%d seconds is too long", x)
			} else {
				d, err = secondsDuration(int64(x))
			}
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < math.MaxInt64/2 {
				d, err = secondsDuration(int64(x))
			} else {
				err = fmt.Errorf("%v is not a whole number of seconds; %s", x, durationHint)
			}
		default:
			err = fmt.Errorf("%s is not a duration; %s", describe(raw), durationHint)
		}
		if err != nil {
			return nil, false, err
		}
		return d, true, nil
	case kindPaths:
		list, isList := raw.([]any)
		if !isList {
			return nil, false, fmt.Errorf("%s is not a list; write a list of file paths such as [policy.json] or one \"- path\" line per file", describe(raw))
		}
		paths := make([]string, 0, len(list))
		for i, item := range list {
			s, isString := item.(string)
			if !isString || s == "" {
				return nil, false, fmt.Errorf("item %d: %s is not a file path", i+1, describe(item))
			}
			paths = append(paths, s)
		}
		if len(paths) == 0 {
			return nil, false, nil
		}
		return paths, true, nil
	case kindBool:
		b, isBool := raw.(bool)
		if !isBool {
			return nil, false, fmt.Errorf("%s is not a boolean; write true or false, without quotes", describe(raw))
		}
		return b, true, nil
	}
	return nil, false, fmt.Errorf("unsupported kind %d", k)
}

// decodeText converts a value given as text (an environment variable or an
// AWS config entry) to the Go type of its kind. Lists are separated by the
// operating system's path list separator (":" on Unix, ";" on Windows).
func decodeText(k kind, s string) (v any, ok bool, err error) {
	if s == "" {
		return nil, false, nil
	}
	switch k {
	case kindString:
		return s, true, nil
	case kindDuration:
		d, err := parseDuration(s)
		if err != nil {
			return nil, false, err
		}
		return d, true, nil
	case kindPaths:
		var paths []string
		for _, p := range filepath.SplitList(s) {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			return nil, false, nil
		}
		return paths, true, nil
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1", "yes", "on":
			return true, true, nil
		case "false", "0", "no", "off":
			return false, true, nil
		}
		return nil, false, fmt.Errorf("%q is not a boolean; use true or false", s)
	}
	return nil, false, fmt.Errorf("unsupported kind %d", k)
}

// parseDuration reads a Go duration string or a whole number of seconds.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return secondsDuration(n)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		if days, ok := strings.CutSuffix(t, "d"); ok {
			if n, err := strconv.Atoi(days); err == nil {
				return 0, fmt.Errorf("%q is not a duration: durations have no day unit; write hours, such as %dh", s, n*24)
			}
		}
		return 0, fmt.Errorf("%q is not a duration; %s", s, durationHint)
	}
	return d, nil
}

// secondsDuration converts a number of seconds to a duration.
func secondsDuration(n int64) (time.Duration, error) {
	if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return 0, fmt.Errorf("%d seconds is too long; %s", n, durationHint)
	}
	return time.Duration(n) * time.Second, nil
}

// describe renders a YAML value for an error message.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case bool:
		return fmt.Sprintf("%v (a boolean)", x)
	case int, int64, uint64, float64:
		return fmt.Sprintf("%v (a number)", x)
	default:
		return fmt.Sprintf("%v", x)
	}
}

// setProfileField stores a decoded value in p.
func setProfileField(p *Profile, key string, v any) {
	switch key {
	case keyMFASerial:
		p.MFASerial = v.(string)
	case keyRegion:
		p.Region = v.(string)
	case keyRoleARN:
		p.RoleARN = v.(string)
	case keyRoleSessionName:
		p.RoleSessionName = v.(string)
	case keyExternalID:
		p.ExternalID = v.(string)
	case keySourceIdentity:
		p.SourceIdentity = v.(string)
	case keySourceProfile:
		p.SourceProfile = v.(string)
	case keySessionDuration:
		p.SessionDuration = v.(time.Duration)
	case keyRoleDuration:
		p.RoleDuration = v.(time.Duration)
	case keyMFAMaxAge:
		p.MFAMaxAge = v.(time.Duration)
	case keyMFASource:
		p.MFASource = v.(string)
	case keyMFAProcess:
		p.MFAProcess = v.(string)
	case keyMFADialog:
		p.MFADialog = v.(string)
	case keyMFAProcessTimeout:
		p.MFAProcessTimeout = v.(time.Duration)
	case keyRefreshLead:
		p.RefreshLead = v.(time.Duration)
	case keyMFALead:
		p.MFALead = v.(time.Duration)
	case keyPolicyFiles:
		p.PolicyFiles = append([]string(nil), v.([]string)...)
	case keyKeyMaxAge:
		p.KeyMaxAge = v.(time.Duration)
	default:
		panic("configs: setProfileField: unknown key " + key)
	}
}

// suggest returns the valid key closest to key when it is a likely typo.
func suggest(key string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if d := editDistance(key, v); d < bestDist {
			best, bestDist = v, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein (optimal string alignment) distance.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unknownKeyError builds the message for a key that is not allowed.
func unknownKeyError(where, path, key string, valid []string) error {
	msg := fmt.Sprintf("%s: unknown key %s", where, path)
	if s := suggest(key, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return fmt.Errorf("%s; valid keys here: %s", msg, strings.Join(valid, ", "))
}
