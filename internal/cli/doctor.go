package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/fileutil"
	"github.com/c0950fac/mfad/internal/service"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/policy"
)

// Doctor finding states.
const (
	doctorOK   = "ok"
	doctorFix  = "fix"
	doctorInfo = "info"
)

// doctorFinding is one result of `mfad doctor`.
type doctorFinding struct {
	// Check names the check, such as shared-credentials.
	Check string `json:"check"`
	// Status is ok, fix (something needs fixing) or info.
	Status string `json:"status"`
	// Profile is the profile the finding is about, if any.
	Profile string `json:"profile,omitempty"`
	// Message says what was found.
	Message string `json:"message"`
	// Fix says what to do, for status fix.
	Fix string `json:"fix,omitempty"`
}

// doctorReport is what `mfad doctor --json` prints.
type doctorReport struct {
	// OK is true when nothing needs fixing.
	OK       bool            `json:"ok"`
	Findings []doctorFinding `json:"findings"`
}

// doctorSystem is what `mfad doctor` needs from the machine.
type doctorSystem struct {
	service serviceSystem
	// replaceFile writes a file atomically (--fix).
	replaceFile func(path string, data []byte) error
}

func newDoctorCmd(app *App) *cobra.Command {
	return newDoctorCmdWith(app, doctorSystem{service: realServiceSystem(), replaceFile: configs.ReplaceFile})
}

func newDoctorCmdWith(app *App, sys doctorSystem) *cobra.Command {
	var asJSON, fix bool
	cmd := &cobra.Command{
		Use:   "doctor [--json] [--fix]",
		Short: "Check the set-up as an AWS SDK sees it, and say how to fix each finding",
		Long: `Check what decides whether AWS SDKs and the AWS CLI really get their credentials from mfad:

  - long-term keys in the shared credentials file (or in ~/.aws/config, or in the
    environment) that SDKs would use before mfad's endpoint, for a profile mfad serves or
    for [default]; a web identity or an ECS relative URI in the environment;
  - AWS_PROFILE (or AWS_DEFAULT_PROFILE) naming a profile that SDKs would resolve without mfad,
    or, with no AWS_PROFILE (as under ` + "`mfad env`" + `), a [default] they would resolve without it
    (role_arn, credential_process, sso_*, a web identity);
  - role profiles in ~/.aws/config that ` + "`aws --profile X`" + ` would assume by itself (asking for
    its own MFA code) instead of taking mfad's role session; --fix moves those role settings
    into mfad's configuration and writes ` + "`credential_process = mfad credential-process --profile X`" + `
    in their place;
  - profiles mfad serves whose long-term key is missing from the keystore;
  - whether the daemon runs (and does not wait for its keystore file's passphrase, nor serve an
    older configuration because it refused a change) and the service is installed;
  - the keystore backend and where it lives;
  - a local clock the daemon found skewed against STS;
  - policy_files that ` + "`mfad policy check`" + ` flags.

The exit status is 0 only when nothing needs fixing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var fixed []string
			if fix {
				var err error
				if fixed, err = app.doctorFix(ctx, sys); err != nil {
					return err
				}
			}
			findings := app.doctor(ctx, sys)
			rep := doctorReport{OK: true, Findings: findings}
			for _, f := range findings {
				if f.Status == doctorFix {
					rep.OK = false
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				for _, line := range fixed {
					fmt.Fprintln(out, "fixed:", line)
				}
				printDoctor(out, rep)
			}
			if !rep.OK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON")
	cmd.Flags().BoolVar(&fix, "fix", false, "write credential_process lines for role profiles the AWS CLI would assume by itself")
	return cmd
}

func printDoctor(w io.Writer, rep doctorReport) {
	for _, f := range rep.Findings {
		label := map[string]string{doctorOK: "ok  ", doctorFix: "FIX ", doctorInfo: "info"}[f.Status]
		fmt.Fprintf(w, "%s  %s: %s\n", label, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", f.Fix)
		}
	}
	if rep.OK {
		fmt.Fprintln(w, "Nothing needs fixing.")
	} else {
		fmt.Fprintln(w, "Some findings need fixing (FIX above).")
	}
}

// doctorEnv is what the checks read once.
type doctorEnv struct {
	cfg       *configs.Config
	credsPath string
	creds     *configs.IniFile // nil when there is no credentials file
	awsPath   string
	aws       *configs.IniFile // nil when there is no AWS config file
}

// doctor runs every check.
func (a *App) doctor(ctx context.Context, sys doctorSystem) []doctorFinding {
	var out []doctorFinding
	add := func(f doctorFinding) { out = append(out, f) }
	cfg, err := a.loadConfig()
	if err != nil {
		add(doctorFinding{Check: "configuration", Status: doctorFix, Message: err.Error(), Fix: "correct the configuration as the message says"})
		return out
	}
	add(doctorFinding{Check: "configuration", Status: doctorOK, Message: describeConfig(cfg)})
	for _, w := range cfg.Warnings {
		if !strings.Contains(w, "is not served") {
			add(doctorFinding{Check: "configuration", Status: doctorInfo, Message: w})
		}
	}
	notServed := make([]string, 0, len(cfg.NotServed))
	for n := range cfg.NotServed {
		notServed = append(notServed, n)
	}
	sort.Strings(notServed)
	for _, n := range notServed {
		add(doctorFinding{Check: "configuration", Status: doctorInfo, Profile: n, Message: fmt.Sprintf("profile %s is not served: %s", n, cfg.NotServed[n])})
	}
	env := doctorEnv{cfg: cfg}
	home := homeDir(a)
	env.credsPath = configs.SharedCredentialsPath(a.getenv, home)
	env.awsPath = configs.DefaultAWSConfigPath(a.getenv, home)
	if env.credsPath != "" {
		if env.creds, err = configs.ReadIniFile(env.credsPath); err != nil {
			add(doctorFinding{Check: "shared-credentials", Status: doctorFix, Message: err.Error(), Fix: "correct the file: SDKs fail on it too"})
		}
	}
	if env.awsPath != "" {
		if env.aws, err = configs.ReadIniFile(env.awsPath); err != nil {
			add(doctorFinding{Check: "aws-config", Status: doctorFix, Message: err.Error(), Fix: "correct the file: SDKs fail on it too"})
		}
	}
	for _, check := range []func(context.Context, doctorEnv) []doctorFinding{
		a.doctorEnvironment,
		a.doctorSharedCredentials,
		a.doctorAWSProfile,
		a.doctorRoleProfiles,
		a.doctorKeystore,
		func(ctx context.Context, env doctorEnv) []doctorFinding { return a.doctorDaemon(ctx, sys) },
		a.doctorPolicies,
	} {
		out = append(out, check(ctx, env)...)
	}
	return out
}

func describeConfig(cfg *configs.Config) string {
	files := []string{}
	if cfg.File != "" {
		files = append(files, cfg.File)
	}
	if cfg.AWSConfigFile != "" {
		files = append(files, cfg.AWSConfigFile)
	}
	if len(files) == 0 {
		files = append(files, "defaults only")
	}
	return fmt.Sprintf("%d profiles served (%s), from %s", len(cfg.Profiles), strings.Join(cfg.ProfileNames(), ", "), strings.Join(files, " and "))
}

// staticKeyVars are the variables that give SDKs credentials before any file.
func staticKeyVars() []string {
	return []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}
}

// doctorEnvironment flags credentials in the environment.
func (a *App) doctorEnvironment(_ context.Context, env doctorEnv) []doctorFinding {
	var set []string
	for _, v := range staticKeyVars() {
		if a.getenv(v) != "" {
			set = append(set, v)
		}
	}
	var out []doctorFinding
	if len(set) > 0 {
		kind := "keys"
		if id := a.getenv("AWS_ACCESS_KEY_ID"); strings.HasPrefix(id, "AKIA") {
			kind = "a long-term key (" + id + ")"
		}
		out = append(out, doctorFinding{Check: "environment", Status: doctorFix,
			Message: fmt.Sprintf("%s hold %s; every SDK uses them before any file or mfad's endpoint", strings.Join(set, ", "), kind),
			Fix: fmt.Sprintf("unset %s, and remove them from where they are set (shell start-up files); move a long-term key into mfad with `mfad add PROFILE --env` first",
				strings.Join(set, " "))})
	}
	// A web identity comes before the container provider in every SDK,
	// and a relative container URI wins over the full one mfad sets.
	if a.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" && a.getenv("AWS_ROLE_ARN") != "" {
		out = append(out, doctorFinding{Check: "environment", Status: doctorFix,
			Message: "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are set: SDKs assume that role with the web identity before they ask mfad's endpoint",
			Fix:     "unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN in the shells that should use mfad (`mfad env` and `mfad exec` do)"})
	}
	if a.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
		out = append(out, doctorFinding{Check: "environment", Status: doctorFix,
			Message: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set: SDKs use it (the ECS task role) instead of AWS_CONTAINER_CREDENTIALS_FULL_URI, mfad's endpoint",
			Fix:     "unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in the shells that should use mfad (`mfad env` and `mfad exec` do)"})
	}
	if len(out) == 0 {
		return []doctorFinding{{Check: "environment", Status: doctorOK, Message: "no AWS credentials in the environment come before mfad's endpoint"}}
	}
	return out
}

// shadowed reports whether keys in a section named name hide mfad's
// endpoint: the section is a profile mfad serves, or [default], which SDKs
// use when no profile is named (as `mfad env` leaves them).
func shadowed(cfg *configs.Config, name string) bool {
	_, served := cfg.Profiles[name]
	return served || name == "default"
}

// doctorSharedCredentials flags long-term keys in the credentials file and
// in the AWS config file.
func (a *App) doctorSharedCredentials(_ context.Context, env doctorEnv) []doctorFinding {
	var out []doctorFinding
	if env.creds != nil {
		for _, s := range env.creds.Sections {
			if !s.HasStaticKeys() || !shadowed(env.cfg, s.Header) {
				continue
			}
			why := fmt.Sprintf("mfad serves profile %s", s.Header)
			if _, served := env.cfg.Profiles[s.Header]; !served {
				why = "SDKs use [default] when no profile is named, as under `mfad env`"
			}
			f := doctorFinding{Check: "shared-credentials", Status: doctorFix, Profile: s.Header,
				Message: fmt.Sprintf("%s holds a key for [%s] (line %d); SDKs and the AWS CLI read it before mfad's endpoint, and %s", env.credsPath, s.Header, s.Line, why),
				Fix:     fmt.Sprintf("mfad import %s", s.Header)}
			if _, served := env.cfg.Profiles[s.Header]; !served {
				f.Fix = fmt.Sprintf("mfad import %s (then give it an mfa_serial in %s), or delete the key lines of [%s] from %s", s.Header, awsConfigName(env), s.Header, env.credsPath)
			}
			if s.HasSessionToken() {
				f.Fix = fmt.Sprintf("delete the aws_access_key_id, aws_secret_access_key and aws_session_token lines of [%s] in %s (they are temporary credentials)", s.Header, env.credsPath)
			}
			out = append(out, f)
		}
	}
	if env.aws != nil {
		for _, s := range env.aws.Sections {
			name, ok := awsSectionProfile(s.Header)
			if !ok || !s.HasStaticKeys() || !shadowed(env.cfg, name) {
				continue
			}
			out = append(out, doctorFinding{Check: "aws-config", Status: doctorFix, Profile: name,
				Message: fmt.Sprintf("%s holds a key in [%s] (line %d); SDKs use it before mfad's endpoint", env.awsPath, s.Header, s.Line),
				Fix: fmt.Sprintf("move the key into mfad (`AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... mfad add %s --env`), then delete the aws_access_key_id and aws_secret_access_key lines of [%s] in %s",
					name, s.Header, env.awsPath)})
		}
	}
	if len(out) == 0 {
		where := env.credsPath
		if where == "" {
			where = "the shared credentials file"
		}
		return []doctorFinding{{Check: "shared-credentials", Status: doctorOK, Message: fmt.Sprintf("no key in %s or the AWS config file hides mfad's endpoint", where)}}
	}
	return out
}

// awsConfigName names the AWS config file for messages.
func awsConfigName(env doctorEnv) string {
	if env.awsPath != "" {
		return env.awsPath
	}
	return "~/.aws/config"
}

// awsSectionProfile is the profile an AWS config section header names.
func awsSectionProfile(header string) (string, bool) {
	if header == "default" {
		return header, true
	}
	if name, ok := strings.CutPrefix(header, "profile "); ok {
		return strings.TrimSpace(name), true
	}
	if name, ok := strings.CutPrefix(header, "profile\t"); ok {
		return strings.TrimSpace(name), true
	}
	return "", false
}

// awsSection returns the AWS config section of profile name ([profile
// NAME], or [default]).
func awsSection(f *configs.IniFile, name string) *configs.IniSection {
	if f == nil {
		return nil
	}
	if s := f.Section("profile " + name); s != nil {
		return s
	}
	if name == "default" {
		return f.Section("default")
	}
	return nil
}

// resolvedWithoutMFAD says why SDKs would resolve profile name from the
// files alone ("" when they would come to mfad's endpoint).
func resolvedWithoutMFAD(env doctorEnv, name string) string {
	if env.creds != nil {
		if s := env.creds.Section(name); s != nil && s.HasStaticKeys() {
			return fmt.Sprintf("%s holds a key for it", env.credsPath)
		}
	}
	if s := awsSection(env.aws, name); s != nil {
		if s.HasStaticKeys() {
			return fmt.Sprintf("%s holds a key in it", env.awsPath)
		}
		if p, ok := s.Get("credential_process"); ok && configs.IsMFADCredentialProcess(p) {
			return ""
		}
		for _, k := range []string{"role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file", "credential_source"} {
			if _, ok := s.Get(k); ok {
				return fmt.Sprintf("its %s in %s comes before mfad's endpoint", k, env.awsPath)
			}
		}
	}
	return ""
}

// doctorAWSProfile flags AWS_PROFILE naming a profile SDKs resolve without mfad.
func (a *App) doctorAWSProfile(_ context.Context, env doctorEnv) []doctorFinding {
	var out []doctorFinding
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		name := a.getenv(v)
		if name == "" {
			continue
		}
		if why := resolvedWithoutMFAD(env, name); why != "" {
			fix := fmt.Sprintf("unset %s (`mfad env` and `mfad exec` do)", v)
			if slices.Contains(roleProfilesToFix(env), name) {
				fix = fmt.Sprintf("mfad doctor --fix (then profile %s asks mfad), or unset %s", name, v)
			}
			if env.creds != nil {
				if s := env.creds.Section(name); s != nil && s.HasStaticKeys() {
					fix = fmt.Sprintf("mfad import %s, or unset %s", name, v)
				}
			}
			out = append(out, doctorFinding{Check: "aws-profile", Status: doctorFix, Profile: name,
				Message: fmt.Sprintf("%s=%s, and SDKs resolve that profile without mfad: %s", v, name, why), Fix: fix})
		}
	}
	// With no profile named (as under `mfad env`), SDKs use [default]: a
	// role, process or sign-in there comes before the endpoint too. Keys
	// there are the shared-credentials check's.
	if a.getenv("AWS_PROFILE") == "" {
		if s := awsSection(env.aws, "default"); s != nil && !s.HasStaticKeys() {
			if why := resolvedWithoutMFAD(env, "default"); why != "" {
				fix := fmt.Sprintf("move those settings from [%s] in %s into a named profile", s.Header, env.awsPath)
				if slices.Contains(roleProfilesToFix(env), "default") {
					fix = "mfad doctor --fix"
				}
				out = append(out, doctorFinding{Check: "aws-profile", Status: doctorFix, Profile: "default",
					Message: fmt.Sprintf("no AWS_PROFILE is set (nor under `mfad env`), so SDKs use [default], and resolve it without mfad: %s", why), Fix: fix})
			}
		}
	}
	if len(out) == 0 {
		return []doctorFinding{{Check: "aws-profile", Status: doctorOK, Message: "AWS_PROFILE names no profile that SDKs would resolve without mfad"}}
	}
	return out
}

// roleProfilesToFix lists the role profiles mfad serves that ~/.aws/config
// makes the AWS CLI assume by itself.
func roleProfilesToFix(env doctorEnv) []string {
	var names []string
	for _, n := range env.cfg.ProfileNames() {
		p := env.cfg.Profiles[n]
		if !p.IsRole() {
			continue
		}
		s := awsSection(env.aws, n)
		if s == nil {
			continue
		}
		if _, ok := s.Get("role_arn"); ok {
			names = append(names, n)
		}
	}
	return names
}

// doctorRoleProfiles flags role profiles the AWS CLI would assume itself.
func (a *App) doctorRoleProfiles(_ context.Context, env doctorEnv) []doctorFinding {
	var out []doctorFinding
	for _, n := range roleProfilesToFix(env) {
		s := awsSection(env.aws, n)
		out = append(out, doctorFinding{Check: "role-profile", Status: doctorFix, Profile: n,
			Message: fmt.Sprintf("[%s] in %s (line %d) sets role_arn, so `aws --profile %s` and SDKs given that profile assume the role themselves from %s's keys (asking for their own MFA code) instead of taking mfad's role session",
				s.Header, env.awsPath, s.Line, n, env.cfg.Profiles[n].KeyProfile()),
			Fix: fmt.Sprintf("mfad doctor --fix: it moves the role settings of [%s] into mfad's configuration and writes `%s` in their place", s.Header, credentialProcessLine(n))})
	}
	if len(out) == 0 {
		return []doctorFinding{{Check: "role-profile", Status: doctorOK, Message: "no role profile is assumed by the AWS CLI behind mfad's back"}}
	}
	return out
}

// mfadCommand is how a credential_process line names mfad: "mfad" when
// that finds this binary on PATH, else its absolute path.
func mfadCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "mfad"
	}
	if p, err := exec.LookPath("mfad"); err == nil {
		a, _ := filepath.EvalSymlinks(p)
		b, _ := filepath.EvalSymlinks(exe)
		if a != "" && a == b {
			return "mfad"
		}
	}
	if strings.ContainsAny(exe, " \t\"'") {
		return `"` + exe + `"`
	}
	return exe
}

// credentialProcessLine is the line that makes the AWS CLI ask mfad.
func credentialProcessLine(profile string) string {
	return fmt.Sprintf("credential_process = %s credential-process --profile %s", mfadCommand(), profile)
}

// doctorKeystore reports the keystore and the keys it lacks.
func (a *App) doctorKeystore(ctx context.Context, env doctorEnv) []doctorFinding {
	st, err := a.openStore(ctx, env.cfg)
	if err != nil {
		return []doctorFinding{{Check: "keystore", Status: doctorFix, Message: err.Error(), Fix: "choose a keystore that works here (keyring.backend), as the message says"}}
	}
	where := "the OS keyring"
	switch st.Backend() {
	case keystore.BackendFile:
		where = "the encrypted file " + env.cfg.Keyring.File
	case keystore.BackendOS:
		svc := a.getenv("MFAD_KEYRING_SERVICE")
		if svc == "" {
			svc = "mfad"
		}
		where = fmt.Sprintf("the OS keyring (service %q)", svc)
	}
	out := []doctorFinding{{Check: "keystore", Status: doctorOK, Message: fmt.Sprintf("backend %s: %s", st.Backend(), where)}}
	keyProfiles := map[string]bool{}
	for _, p := range env.cfg.Profiles {
		keyProfiles[p.KeyProfile()] = true
	}
	names := make([]string, 0, len(keyProfiles))
	for n := range keyProfiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, err := keystore.GetAccessKey(ctx, st, n)
		switch {
		case err == nil:
			if f := keyAgeFinding(env.cfg.Profiles[n], k, time.Now()); f != nil {
				out = append(out, *f)
			}
		case errors.Is(err, keystore.ErrNotFound):
			fix := fmt.Sprintf("mfad add %s", n)
			if env.creds != nil {
				if s := env.creds.Section(n); s != nil && s.HasStaticKeys() {
					fix = fmt.Sprintf("mfad import %s", n)
				}
			}
			out = append(out, doctorFinding{Check: "keystore", Status: doctorFix, Profile: n,
				Message: fmt.Sprintf("profile %s has no long-term key in the %s keystore, so mfad cannot unlock it", n, st.Backend()), Fix: fix})
		default:
			out = append(out, doctorFinding{Check: "keystore", Status: doctorFix, Profile: n, Message: err.Error(), Fix: fmt.Sprintf("mfad add %s --force", n)})
		}
	}
	return out
}

// keyAgeFinding checks a key profile's stored key against its key_max_age;
// nil when the profile sets none.
func keyAgeFinding(p *configs.Profile, k keystore.AccessKey, now time.Time) *doctorFinding {
	if p == nil || p.KeyMaxAge <= 0 {
		return nil
	}
	f := &doctorFinding{Check: "key-age", Profile: p.Name}
	switch age := now.Sub(k.Created); {
	case k.Created.IsZero():
		f.Status = doctorInfo
		f.Message = fmt.Sprintf("the age of %s's access key %s is not known yet: the daemon learns it from IAM at the next unlock", p.Name, k.AccessKeyID)
	case age >= p.KeyMaxAge:
		f.Status = doctorFix
		f.Message = fmt.Sprintf("%s's access key %s is %s old, past key_max_age %s: rotation is due", p.Name, k.AccessKeyID, fmtDays(age), fmtDays(p.KeyMaxAge))
		f.Fix = "mfad rotate " + p.Name
	default:
		f.Status = doctorOK
		f.Message = fmt.Sprintf("%s's access key %s is %s old; rotation is due at %s (key_max_age %s)", p.Name, k.AccessKeyID, fmtDays(age),
			k.Created.Add(p.KeyMaxAge).Local().Format("2006-01-02"), fmtDays(p.KeyMaxAge))
	}
	return f
}

// doctorDaemon checks the daemon, the service and the clock.
func (a *App) doctorDaemon(ctx context.Context, sys doctorSystem) []doctorFinding {
	var out []doctorFinding
	installed, serviceKnown := false, false
	if layout, err := a.serviceLayout(sys.service); err == nil {
		serviceKnown = true
		installed = service.Exists(layout.Main())
	}
	st, err := a.runningDaemon(ctx)
	switch {
	case err == nil:
		out = append(out, doctorFinding{Check: "daemon", Status: doctorOK, Message: fmt.Sprintf("running, pid %d, endpoint %s", st.PID, st.Endpoint)})
	case errors.Is(err, ipc.ErrNoDaemon):
		fix := "mfad service install (or run `mfad daemon`)"
		if installed {
			fix = "start the installed service (`systemctl --user start mfad` or `launchctl kickstart gui/$(id -u)/" + service.LaunchdLabel + "`), or run `mfad daemon`"
		} else if !serviceKnown {
			fix = "run `mfad daemon` (start it at login with your system's tool)"
		}
		out = append(out, doctorFinding{Check: "daemon", Status: doctorFix, Message: "no daemon is running: SDKs get no credentials from mfad", Fix: fix})
	default:
		out = append(out, doctorFinding{Check: "daemon", Status: doctorFix, Message: "the daemon does not answer: " + err.Error(), Fix: "restart it (`mfad service install` again, or stop and start `mfad daemon`)"})
	}
	switch {
	case installed:
		out = append(out, doctorFinding{Check: "service", Status: doctorOK, Message: "installed (see `mfad service status`)"})
	case serviceKnown:
		out = append(out, doctorFinding{Check: "service", Status: doctorInfo, Message: "not installed: the daemon does not start at login; `mfad service install` sets that up"})
	}
	if err == nil {
		if f := clockSkewFinding(st); f != nil {
			out = append(out, *f)
		}
		out = append(out, daemonStateFindings(st)...)
	}
	return out
}

// clockSkewFinding reports a local clock the daemon found skewed against
// STS, from its status reply; nil when there is nothing to report.
func clockSkewFinding(st ipc.StatusReply) *doctorFinding {
	if st.ClockSkewSeconds == 0 {
		return nil
	}
	off := time.Duration(st.ClockSkewSeconds) * time.Second
	way := "behind"
	if off < 0 {
		way = "ahead of"
	}
	return &doctorFinding{Check: "clock", Status: doctorFix,
		Message: fmt.Sprintf("at its last STS call the daemon found this machine's clock %s %s STS's: mfad reads expiries on STS's time, but SDKs and request signatures use the local clock", fmtDur(off.Abs()), way),
		Fix:     "set the clock right: turn on time synchronisation (NTP), e.g. `timedatectl set-ntp true` on Linux"}
}

// daemonStateFindings reports what the daemon's status says needs doing
// besides the clock: a keystore file waiting for its passphrase, a
// configuration change it refused.
func daemonStateFindings(st ipc.StatusReply) []doctorFinding {
	var out []doctorFinding
	if st.KeystoreLocked {
		out = append(out, doctorFinding{Check: "daemon", Status: doctorFix,
			Message: fmt.Sprintf("the daemon waits for the passphrase of the keystore file %s: it serves nothing until then", st.KeystoreFile),
			Fix:     "mfad unlock"})
	}
	if st.ConfigError != "" {
		out = append(out, doctorFinding{Check: "configuration", Status: doctorFix,
			Message: "the daemon refused the last configuration change and serves the previous one: " + st.ConfigError,
			Fix:     "correct the configuration as the message says; the daemon takes it up when the file changes"})
	}
	return out
}

// doctorPolicies runs the policy checks on each profile's policy_files.
func (a *App) doctorPolicies(_ context.Context, env doctorEnv) []doctorFinding {
	var out []doctorFinding
	done := map[string]bool{}
	for _, n := range env.cfg.ProfileNames() {
		files := env.cfg.Profiles[n].PolicyFiles
		if len(files) == 0 {
			continue
		}
		key := strings.Join(files, "\x00")
		if done[key] {
			continue
		}
		done[key] = true
		docs, err := policyLoad(files)
		if err != nil {
			out = append(out, doctorFinding{Check: "policy", Status: doctorFix, Profile: n, Message: err.Error(), Fix: "correct policy_files of profile " + n})
			continue
		}
		rep := policy.Check(docs, nil)
		flagged := false
		for _, f := range rep.Findings {
			status := doctorInfo
			if f.Severity == policy.SeverityError || f.Severity == policy.SeverityWarning {
				status, flagged = doctorFix, true
			}
			out = append(out, doctorFinding{Check: "policy", Status: status, Profile: n, Message: fmt.Sprintf("%s: %s", strings.Join(files, ", "), f.Message), Fix: f.Fix})
		}
		if !flagged {
			out = append(out, doctorFinding{Check: "policy", Status: doctorOK, Profile: n, Message: fmt.Sprintf("`mfad policy check %s` flags nothing", strings.Join(files, " "))})
		}
	}
	return out
}

// roleKeysMoved are the AWS config keys of a role profile that --fix turns
// into comments: with them the AWS CLI would assume the role by itself.
func roleKeysMoved() []string {
	return []string{"role_arn", "source_profile", "role_session_name", "external_id", "duration_seconds", "source_identity"}
}

// doctorFix writes credential_process lines for the role profiles the AWS
// CLI would assume by itself, after copying their role settings into mfad's
// configuration file. It returns what it did.
func (a *App) doctorFix(_ context.Context, sys doctorSystem) ([]string, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	env := doctorEnv{cfg: cfg, awsPath: configs.DefaultAWSConfigPath(a.getenv, homeDir(a))}
	if env.awsPath == "" {
		return nil, nil
	}
	if env.aws, err = configs.ReadIniFile(env.awsPath); err != nil || env.aws == nil {
		return nil, err
	}
	names := roleProfilesToFix(env)
	if len(names) == 0 {
		return nil, nil
	}
	mfadFile := cfg.Path
	if mfadFile == "" {
		return nil, errors.New("no mfad configuration file is known (no home directory): set MFAD_CONFIG or --config so that --fix can move the role settings there")
	}
	f := env.aws
	var done []string
	for _, n := range names {
		s := awsSection(f, n)
		var keys []string
		for _, k := range roleKeysMoved() {
			if _, ok := s.Get(k); ok {
				keys = append(keys, k)
			}
		}
		// The role as mfad resolved it (include_profile and all), so that
		// mfad serves the same role once the lines are comments.
		p := cfg.Profiles[n]
		var values [][2]string
		for _, kv := range [][2]string{
			{"role_arn", p.RoleARN}, {"source_profile", p.SourceProfile}, {"role_session_name", p.RoleSessionName},
			{"external_id", p.ExternalID}, {"source_identity", p.SourceIdentity}, {"role_duration", fmtDur(p.RoleDuration)},
		} {
			if kv[1] != "" {
				values = append(values, kv)
			}
		}
		if err := configs.SetProfileValuesIfUnset(mfadFile, n, values); err != nil {
			return done, fmt.Errorf("--fix: %w", err)
		}
		data := f.CommentOut(s.Header, keys, "moved into mfad's configuration: ", credentialProcessLine(n))
		if now, err := os.ReadFile(env.awsPath); err != nil || string(now) != string(f.Data) {
			return done, fmt.Errorf("--fix: %s changed while mfad was editing it; run `mfad doctor --fix` again", env.awsPath)
		}
		if err := sys.replaceFile(env.awsPath, data); err != nil && !errors.Is(err, fileutil.ErrDirNotSynced) {
			return done, fmt.Errorf("--fix: %w", err)
		}
		done = append(done, fmt.Sprintf("[%s] in %s now reads `%s`; its role settings are in %s (profiles.%s)", s.Header, env.awsPath, credentialProcessLine(n), mfadFile, n))
		if f, err = configs.ReadIniFile(env.awsPath); err != nil || f == nil {
			return done, err
		}
	}
	return done, nil
}
