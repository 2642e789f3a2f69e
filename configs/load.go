package configs

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultListen            = "127.0.0.1:0"
	DefaultRegion            = "us-east-1"
	DefaultSessionDuration   = 12 * time.Hour
	DefaultRoleDuration      = time.Hour
	DefaultMFAProcessTimeout = 30 * time.Second
	DefaultRefreshLead       = 20 * time.Minute
	DefaultMFALead           = 15 * time.Minute
)

// LoadOptions says where Load looks for configuration.
type LoadOptions struct {
	// File is the configuration file named by the --config flag ("" when
	// the flag is not given).
	File string
	// Getenv looks up environment variables, as os.Getenv does; nil means
	// an empty environment.
	Getenv func(string) string
	// HomeDir is the user's home directory ("" when unknown: the defaults
	// under it are then not used).
	HomeDir string
}

// Load reads mfad's configuration and returns it merged, defaulted and
// validated.
//
// The mfad configuration file is the first of: opts.File (the --config
// flag), $MFAD_CONFIG, $XDG_CONFIG_HOME/mfad/config.yaml, and
// HomeDir/.config/mfad/config.yaml. A file named by the flag or by
// MFAD_CONFIG must exist; a missing default file means all defaults. Keys
// are checked strictly: unknown keys and values of the wrong form are
// errors naming the file, line and key.
//
// Profiles are also imported from the AWS shared config file
// ($AWS_CONFIG_FILE, else HomeDir/.aws/config): every [profile NAME] or
// [default] section that sets mfa_serial or role_arn, and the source
// profiles those name. mfad reads mfa_serial, mfa_process, role_arn,
// source_profile, region, duration_seconds (as role_duration),
// role_session_name, external_id and source_identity there, follows
// aws-vault's include_profile, and takes [default]'s mfa_serial for a
// profile left with no MFA device. A profile that concerns MFA but whose
// credentials come from somewhere mfad does not go (credential_process,
// sso_*, a web identity, credential_source) or whose AssumeRole mfad cannot
// reproduce (session_tags) is listed in Config.NotServed with the reason.
//
// Environment variables override both files:
//
//	MFAD_LISTEN           listen
//	MFAD_STS_ENDPOINT     sts_endpoint
//	MFAD_IAM_ENDPOINT     iam_endpoint
//	MFAD_SIGNIN_ENDPOINT  signin_endpoint
//	MFAD_KEYRING_BACKEND  keyring.backend
//	MFAD_KEYRING_FILE     keyring.file
//	MFAD_LOCK_ON_SLEEP    lock_on_sleep
//	MFAD_LOCK_ON_SCREEN_LOCK  lock_on_screen_lock
//	MFAD_PROFILE_<NAME>_<KEY>  profiles.<name>.<key>
//
// where NAME is the profile name in upper case with "-" and "." written
// as "_", and KEY is the profile key in upper case (for example
// MFAD_PROFILE_WORK_MFA_MAX_AGE=1h). Profile variables apply to profiles
// defined in either file; they do not create profiles. An empty variable
// counts as unset. policy_files takes a list separated like PATH.
//
// Per key, the precedence is: environment, then mfad's file, then the
// AWS config file, then the default.
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	home := opts.HomeDir

	path, namedBy := opts.File, "the --config flag"
	if path == "" {
		path, namedBy = getenv("MFAD_CONFIG"), "MFAD_CONFIG"
	}
	if path == "" {
		path, namedBy = DefaultPath(getenv, home), ""
	} else {
		path = expandHome(path, home)
	}

	cfg := &Config{Path: path, Profiles: map[string]*Profile{}}
	l := &loader{cfg: cfg, getenv: getenv, home: home}
	var err error
	if path != "" {
		if l.file, err = readFile(path, namedBy); err != nil {
			return nil, err
		}
		if l.file != nil {
			cfg.File = path
		}
	}
	if awsPath := DefaultAWSConfigPath(getenv, home); awsPath != "" {
		if l.aws, err = readAWS(awsPath); err != nil {
			return nil, err
		}
		if l.aws != nil {
			cfg.AWSConfigFile = awsPath
		}
	}

	l.loadTop()
	l.loadProfiles()
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return cfg, nil
}

// DefaultPath returns the configuration file mfad reads when neither the
// --config flag nor MFAD_CONFIG names one: $XDG_CONFIG_HOME/mfad/config.yaml
// when XDG_CONFIG_HOME is an absolute path, else
// home/.config/mfad/config.yaml ("" when home is unknown).
func DefaultPath(getenv func(string) string, home string) string {
	return xdgPath(getenv, "XDG_CONFIG_HOME", home, filepath.Join(".config"), "config.yaml")
}

// DefaultKeyringFile returns the encrypted file store's default path:
// $XDG_DATA_HOME/mfad/keystore.enc when XDG_DATA_HOME is an absolute path,
// else home/.local/share/mfad/keystore.enc ("" when home is unknown).
func DefaultKeyringFile(getenv func(string) string, home string) string {
	return xdgPath(getenv, "XDG_DATA_HOME", home, filepath.Join(".local", "share"), "keystore.enc")
}

// xdgPath resolves $VAR/mfad/FILE, else home/underHome/mfad/FILE. Relative
// XDG values are ignored, as the XDG base directory specification requires.
func xdgPath(getenv func(string) string, variable, home, underHome, file string) string {
	if getenv != nil {
		if dir := getenv(variable); dir != "" && filepath.IsAbs(dir) {
			return filepath.Join(dir, "mfad", file)
		}
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, underHome, "mfad", file)
}

// loader merges the sources of one Load.
type loader struct {
	cfg    *Config
	file   *fileLayer // nil when there is no file
	aws    *awsLayer  // nil when there is no AWS config file
	getenv func(string) string
	home   string
	// origins says, per profile and key, where the value in force was set.
	origins map[string]map[string]string
	errs    []error
}

// fail records an error.
func (l *loader) fail(format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf(format, args...))
}

// filePath resolves a path given in mfad's file: "~" is the home
// directory and relative paths are relative to the file's directory.
func (l *loader) filePath(p string) string {
	p = expandHome(p, l.home)
	if !filepath.IsAbs(p) && !strings.HasPrefix(p, "~") {
		p = filepath.Join(filepath.Dir(l.file.path), p)
	}
	return p
}

// loadTop merges and checks listen, sts_endpoint, keyring, lock_on_sleep
// and lock_on_screen_lock.
func (l *loader) loadTop() {
	c := l.cfg
	c.Listen, c.Keyring.Backend = DefaultListen, KeyringAuto
	origin := map[string]string{keyListen: "the default", "keyring.backend": "the default"}
	fields := []struct {
		key, env string
		dst      *string
		path     bool
	}{
		{keyListen, "MFAD_LISTEN", &c.Listen, false},
		{keySTSEndpoint, "MFAD_STS_ENDPOINT", &c.STSEndpoint, false},
		{keyIAMEndpoint, "MFAD_IAM_ENDPOINT", &c.IAMEndpoint, false},
		{keySigninEndpoint, "MFAD_SIGNIN_ENDPOINT", &c.SigninEndpoint, false},
		{"keyring.backend", "MFAD_KEYRING_BACKEND", &c.Keyring.Backend, false},
		{"keyring.file", "MFAD_KEYRING_FILE", &c.Keyring.File, true},
	}
	for _, f := range fields {
		if l.file != nil {
			if v, ok := l.file.top[f.key]; ok {
				*f.dst = v.(string)
				if f.path {
					*f.dst = l.filePath(*f.dst)
				}
				origin[f.key] = "set in " + l.file.at(strings.Split(f.key, ".")...)
			}
		}
		if v := l.getenv(f.env); v != "" {
			*f.dst = v
			if f.path {
				*f.dst = expandHome(v, l.home)
			}
			origin[f.key] = "set by " + f.env
		}
	}
	if c.Keyring.File == "" {
		c.Keyring.File = DefaultKeyringFile(l.getenv, l.home)
	}
	for _, f := range []struct {
		key, env string
		dst      *bool
	}{
		{keyLockOnSleep, "MFAD_LOCK_ON_SLEEP", &c.LockOnSleep},
		{keyLockOnScreen, "MFAD_LOCK_ON_SCREEN_LOCK", &c.LockOnScreenLock},
	} {
		if l.file != nil {
			if v, ok := l.file.top[f.key]; ok {
				*f.dst = v.(bool)
			}
		}
		v, ok, err := decodeText(kindBool, l.getenv(f.env))
		if err != nil {
			l.fail("%s: %w", f.env, err)
		} else if ok {
			*f.dst = v.(bool)
		}
	}

	if err := validateListen(c.Listen); err != nil {
		l.fail("listen %q (%s): %w", c.Listen, origin[keyListen], err)
	}
	for _, e := range []struct{ key, value string }{
		{keySTSEndpoint, c.STSEndpoint}, {keyIAMEndpoint, c.IAMEndpoint}, {keySigninEndpoint, c.SigninEndpoint},
	} {
		if e.value != "" {
			if err := validateEndpoint(e.value); err != nil {
				l.fail("%s %q (%s): %w", e.key, e.value, origin[e.key], err)
			}
		}
	}
	switch c.Keyring.Backend {
	case KeyringAuto, KeyringOS, KeyringFile:
	default:
		l.fail("keyring.backend %q (%s) is not a keyring backend; use auto (the OS keyring when there is one, else the encrypted file), os or file", c.Keyring.Backend, origin["keyring.backend"])
	}
	if c.Keyring.Backend == KeyringFile && c.Keyring.File == "" {
		l.fail("keyring.backend is file but no keyring.file is set and no home directory is known; set keyring.file (or MFAD_KEYRING_FILE) to the store's path")
	}
}

// envName is a profile name as written in MFAD_PROFILE_<NAME>_<KEY>.
func envName(profile string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(profile))
}

// EnvVar returns the environment variable that overrides key of profile,
// for example EnvVar("work", "mfa_max_age") is MFAD_PROFILE_WORK_MFA_MAX_AGE.
func EnvVar(profile, key string) string {
	return "MFAD_PROFILE_" + envName(profile) + "_" + strings.ToUpper(key)
}

// merge layers the AWS config, mfad's file and the environment over a
// blank profile. Errors are those of environment values.
func (l *loader) merge(name string) (*Profile, map[string]string, []error) {
	p := &Profile{Name: name}
	origin := map[string]string{}
	if l.aws != nil {
		if ap, ok := l.aws.profiles[name]; ok {
			for k, v := range ap.set {
				setProfileField(p, k, v)
				origin[k] = "set in " + l.aws.at(name)
			}
		}
	}
	if l.file != nil {
		if fp, ok := l.file.profiles[name]; ok {
			for k, v := range fp {
				if k == keyPolicyFiles {
					var resolved []string
					for _, f := range v.([]string) {
						resolved = append(resolved, l.filePath(f))
					}
					v = resolved
				}
				setProfileField(p, k, v)
				origin[k] = "set in " + l.file.at(keyProfiles, name, k)
			}
		}
	}
	var errs []error
	for _, spec := range profileKeys() {
		variable := EnvVar(name, spec.key)
		v, ok, err := decodeText(spec.kind, l.getenv(variable))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", variable, err))
			continue
		}
		if !ok {
			continue
		}
		if spec.kind == kindPaths {
			paths := v.([]string)
			for i := range paths {
				paths[i] = expandHome(paths[i], l.home)
			}
		}
		setProfileField(p, spec.key, v)
		origin[spec.key] = "set by " + variable
	}
	return p, origin, errs
}

// loadProfiles gathers, merges, defaults and checks the profiles.
func (l *loader) loadProfiles() {
	names := map[string]bool{}
	if l.aws != nil {
		for n, p := range l.aws.profiles {
			if p.candidate {
				names[n] = true
			}
		}
	}
	if l.file != nil {
		for _, n := range sortedKeys(l.file.profiles) {
			if err := ValidateProfileName(n); err != nil {
				l.fail("%s: profiles.%s: %w", l.file.at(keyProfiles, n), n, err)
				continue
			}
			names[n] = true
		}
	}
	// Import the AWS profiles that the profiles so far use as source. A
	// profile of the AWS config file alone whose source mfad cannot serve is
	// not served either.
	notServed := map[string]string{}
	if l.aws != nil {
		for n, why := range l.aws.notServed {
			if l.file == nil || l.file.profiles[n] == nil {
				notServed[n] = why
			}
		}
	}
	referenced := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range sortedKeys(names) {
			p, _, _ := l.merge(n)
			sp := p.SourceProfile
			if sp == "" {
				continue
			}
			referenced[sp] = true
			if why, ok := notServed[sp]; ok && (l.file == nil || l.file.profiles[n] == nil) {
				notServed[n] = fmt.Sprintf("its source_profile %s is not served (%s)", sp, why)
				delete(names, n)
				changed = true
				continue
			}
			if !names[sp] && l.aws != nil && l.aws.profiles[sp] != nil && notServed[sp] == "" {
				names[sp] = true
				changed = true
			}
		}
	}
	if len(notServed) > 0 {
		l.cfg.NotServed = notServed
	}
	if l.aws != nil {
		for _, n := range sortedKeys(l.aws.skipped) {
			if s := l.aws.skipped[n]; s.candidate || referenced[n] {
				l.cfg.Warnings = append(l.cfg.Warnings, s.reason)
			}
		}
	}

	l.checkEnvNames(names)
	l.origins = map[string]map[string]string{}
	for _, n := range sortedKeys(names) {
		p, origin, errs := l.merge(n)
		l.errs = append(l.errs, errs...)
		if l.aws != nil && l.aws.profiles[n] != nil {
			p.Sources = append(p.Sources, SourceAWS)
		}
		if l.file != nil && l.file.profiles[n] != nil {
			p.Sources = append(p.Sources, SourceMFAD)
		}
		l.defaults(p, origin)
		l.cfg.Profiles[n] = p
		l.origins[n] = origin
	}
	l.dropForeign()
	l.validateProfiles()
}

// checkEnvNames rejects profile variables that match several profiles,
// such as MFAD_PROFILE_A_B_REGION for profiles a-b and a.b.
func (l *loader) checkEnvNames(names map[string]bool) {
	byEnv := map[string][]string{}
	for _, n := range sortedKeys(names) {
		byEnv[envName(n)] = append(byEnv[envName(n)], n)
	}
	for _, e := range sortedKeys(byEnv) {
		group := byEnv[e]
		if len(group) < 2 {
			continue
		}
		for _, spec := range profileKeys() {
			if variable := EnvVar(group[0], spec.key); l.getenv(variable) != "" {
				l.fail("%s is ambiguous: it matches profiles %s; set %s in the configuration file instead", variable, strings.Join(group, ", "), spec.key)
			}
		}
	}
}

// defaults fills the keys no source set from NewProfile.
func (l *loader) defaults(p *Profile, origin map[string]string) {
	d := NewProfile(p.Name)
	def := func(key string, set func()) {
		if _, ok := origin[key]; !ok {
			set()
			origin[key] = "the default"
		}
	}
	def(keySessionDuration, func() { p.SessionDuration = d.SessionDuration })
	def(keyRoleDuration, func() { p.RoleDuration = d.RoleDuration })
	def(keyMFAProcessTimeout, func() { p.MFAProcessTimeout = d.MFAProcessTimeout })
	def(keyRefreshLead, func() { p.RefreshLead = d.RefreshLead })
	def(keyMFALead, func() { p.MFALead = d.MFALead })
	def(keyMFASource, func() {
		// A profile that names a code command uses it.
		p.MFASource = d.MFASource
		if p.MFAProcess != "" {
			p.MFASource = MFASourceProcess
		}
	})
	if _, ok := origin[keyRegion]; !ok {
		switch {
		case l.getenv("AWS_REGION") != "":
			p.Region, origin[keyRegion] = l.getenv("AWS_REGION"), "set by AWS_REGION"
		case l.getenv("AWS_DEFAULT_REGION") != "":
			p.Region, origin[keyRegion] = l.getenv("AWS_DEFAULT_REGION"), "set by AWS_DEFAULT_REGION"
		default:
			p.Region, origin[keyRegion] = d.Region, "the default"
			p.RegionIsDefault = true
		}
	}
}

// dropForeign removes groups of profiles (linked by source_profile) that
// come from the AWS config file alone and name no MFA device anywhere:
// they are not mfad's business.
func (l *loader) dropForeign() {
	profiles := l.cfg.Profiles
	parent := map[string]string{}
	var find func(string) string
	find = func(n string) string {
		if p, ok := parent[n]; ok && p != n {
			r := find(p)
			parent[n] = r
			return r
		}
		return n
	}
	for _, n := range sortedKeys(profiles) {
		parent[n] = n
	}
	for _, n := range sortedKeys(profiles) {
		if sp := profiles[n].SourceProfile; profiles[sp] != nil {
			parent[find(n)] = find(sp)
		}
	}
	keep := map[string]bool{}
	for n, p := range profiles {
		if p.MFASerial != "" || containsString(p.Sources, SourceMFAD) {
			keep[find(n)] = true
		}
		// [default]'s device is every profile's last resort (see
		// inheritMFASerial): a role assumed with keys then needs MFA.
		if p.RoleARN != "" && l.aws != nil && l.aws.defaultMFASerial != "" {
			keep[find(n)] = true
		}
	}
	for n := range profiles {
		if !keep[find(n)] {
			delete(profiles, n)
			delete(l.origins, n)
		}
	}
}

// containsString reports whether list holds s.
func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Profile returns the named profile, or an error listing the known ones
// and how to add one.
func (c *Config) Profile(name string) (*Profile, error) {
	if p, ok := c.Profiles[name]; ok {
		return p, nil
	}
	where := c.Path
	if where == "" {
		where = "mfad's configuration file"
	}
	known := "no profiles are configured"
	if names := c.ProfileNames(); len(names) > 0 {
		known = "known profiles: " + strings.Join(names, ", ")
	}
	return nil, fmt.Errorf("%w %q (%s); add it with `mfad add %s`, or add a profiles.%s entry in %s", ErrUnknownProfile, name, known, name, name, where)
}

// ErrUnknownProfile is wrapped by Config.Profile for a name that is not
// configured.
var ErrUnknownProfile = errors.New("unknown profile")

// ProfileNames returns the configured profile names, sorted.
func (c *Config) ProfileNames() []string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Chain returns the profiles a role profile is reached through, from the
// profile holding the long-term keys to name itself: [name] for a profile
// without source_profile, [base, name] for a role assumed from base's MFA
// session, [base, inner, name] for a role assumed from another role.
func (c *Config) Chain(name string) ([]*Profile, error) {
	var chain []*Profile
	seen := map[string]bool{}
	for n := name; ; {
		p, err := c.Profile(n)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("profile %q: source_profile loops back to %q; break the cycle", name, n)
		}
		seen[n] = true
		chain = append([]*Profile{p}, chain...)
		if p.SourceProfile == "" {
			return chain, nil
		}
		n = p.SourceProfile
	}
}
