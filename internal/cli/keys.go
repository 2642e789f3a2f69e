package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newAddCmd(app *App) *cobra.Command {
	var fromEnv, force bool
	var serial, profile string
	cmd := &cobra.Command{
		Use:   "add PROFILE",
		Short: "Store a profile's long-term access key in the keystore",
		Long: `Store a profile's long-term access key pair in the keystore (the OS keyring, or the
encrypted file store). With --env the key is read from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; otherwise mfad asks for it with hidden input (or reads two lines,
the key id then the secret, from standard input when it is not a terminal).

--mfa-serial records the profile's MFA device in the mfad configuration file.`,
		Example: `  mfad add work --mfa-serial arn:aws:iam::111122223333:mfa/alice
  AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=... mfad add work --env`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(profile, args, "mfad add PROFILE")
			if err != nil {
				return err
			}
			if err := keystore.ValidateProfileName(name); err != nil {
				return err
			}
			if serial != "" {
				if err := configs.ValidateMFASerial(serial); err != nil {
					return fmt.Errorf("--mfa-serial: %w", err)
				}
			}
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			key, err := app.readAccessKey(fromEnv)
			if err != nil {
				return err
			}
			if err := key.Validate(); err != nil {
				return err
			}
			st, err := app.openStore(ctx, cfg)
			if err != nil {
				return err
			}
			prev, err := keystore.GetAccessKey(ctx, st, name)
			hadPrev := err == nil
			if err != nil && !errors.Is(err, keystore.ErrNotFound) {
				return err
			}
			if hadPrev && !force {
				return fmt.Errorf("profile %s already has an access key in the %s keystore: use --force to replace it", name, st.Backend())
			}
			if err := keystore.PutAccessKey(ctx, st, name, key); err != nil {
				return err
			}
			if serial != "" {
				file := cfg.File
				if file == "" {
					file = configs.DefaultPath(app.getenv, homeDir(app))
				}
				if err := configs.SetProfileValue(file, name, "mfa_serial", serial); err != nil {
					// Leave the keystore as it was.
					var rerr error
					if hadPrev {
						rerr = keystore.PutAccessKey(ctx, st, name, prev)
					} else {
						rerr = st.Delete(ctx, name, keystore.AccessKeyItem)
					}
					return errors.Join(fmt.Errorf("record mfa_serial: %w (the keystore was left unchanged)", err), rerr)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Stored the access key %s for profile %s in the %s keystore.\n", key.AccessKeyID, name, st.Backend())
			p := cfg.Profiles[name]
			if serial == "" && (p == nil || p.MFASerial == "") {
				fmt.Fprintf(out, "Profile %s has no MFA device yet: run `mfad add %s --mfa-serial ARN --force`, or set mfa_serial in the configuration.\n", name, name)
			}
			if shadow := sharedCredentialsHasProfile(app, name); shadow != "" {
				fmt.Fprintf(out, "Note: %s also holds keys for [%s]; SDKs read that file before the mfad endpoint, so remove them there.\n", shadow, name)
			}
			fmt.Fprintf(out, "Next: start the daemon (`mfad daemon`) and run `mfad unlock %s`.\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromEnv, "env", false, "read the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	cmd.Flags().StringVar(&serial, "mfa-serial", "", "the profile's MFA device (virtual device ARN or hardware serial)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key")
	addProfileFlag(cmd, &profile, "$MFAD_PROFILE")
	return cmd
}

func homeDir(app *App) string {
	if h := app.getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// sharedCredentialsHasProfile returns the shared credentials file's path when
// it holds a section for name.
func sharedCredentialsHasProfile(app *App, name string) string {
	path := app.getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		path = homeDir(app) + "/.aws/credentials"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "["+name+"]" {
			return path
		}
	}
	return ""
}

// readAccessKey reads a key pair from the environment, the terminal (hidden)
// or standard input.
func (a *App) readAccessKey(fromEnv bool) (keystore.AccessKey, error) {
	if fromEnv {
		k := keystore.AccessKey{AccessKeyID: a.getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: a.getenv("AWS_SECRET_ACCESS_KEY")}
		if k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return k, errors.New("--env: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		if a.getenv("AWS_SESSION_TOKEN") != "" || a.getenv("AWS_SECURITY_TOKEN") != "" {
			return keystore.AccessKey{}, errors.New("--env: AWS_SESSION_TOKEN is set, so these are temporary credentials, and mfad needs the IAM user's long-term key; from aws-vault, run `aws-vault exec --no-session PROFILE -- mfad add PROFILE --env`")
		}
		return k, nil
	}
	if f, ok := a.Stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(a.Stderr, "Access key id: ")
		id, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return keystore.AccessKey{}, fmt.Errorf("read access key id: %w", err)
		}
		fmt.Fprint(a.Stderr, "Secret access key: ")
		sec, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return keystore.AccessKey{}, fmt.Errorf("read secret access key: %w", err)
		}
		return keystore.AccessKey{AccessKeyID: strings.TrimSpace(string(id)), SecretAccessKey: strings.TrimSpace(string(sec))}, nil
	}
	r := bufio.NewReader(a.Stdin)
	id, err1 := r.ReadString('\n')
	sec, err2 := r.ReadString('\n')
	if (err1 != nil && err1 != io.EOF) || (err2 != nil && err2 != io.EOF) || strings.TrimSpace(sec) == "" {
		return keystore.AccessKey{}, errors.New("standard input is not a terminal: give the key id and the secret on two lines, or use --env")
	}
	return keystore.AccessKey{AccessKeyID: strings.TrimSpace(id), SecretAccessKey: strings.TrimSpace(sec)}, nil
}

func newRemoveCmd(app *App) *cobra.Command {
	var force bool
	var profile string
	cmd := &cobra.Command{
		Use:   "remove PROFILE",
		Short: "Remove a profile's keys and cached sessions from the keystore",
		Long: `Remove what the keystore holds for a profile: its access key, cached sessions and TOTP
secret, after locking it in a running daemon. Removing a role profile touches that
profile only, never the MFA session of its source profile.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(profile, args, "mfad remove PROFILE")
			if err != nil {
				return err
			}
			cfg, st, err := app.configAndStore(ctx)
			if err != nil {
				return err
			}
			if !force {
				ok, err := app.confirm(fmt.Sprintf("Remove the keys and sessions of profile %s from the %s keystore? [y/N] ", name, st.Backend()))
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing removed")
				}
			}
			// A running daemon must forget the session too.
			if _, ok := cfg.Profiles[name]; ok {
				if _, err := ask(ctx, app, (*ipc.Client).Lock, ipc.LockRequest{Profile: name}); err != nil && !errors.Is(err, ipc.ErrNoDaemon) {
					fmt.Fprintf(app.Stderr, "mfad: warning: the daemon did not lock %s: %v\n", name, err)
				}
			}
			if err := keystore.RemoveProfile(ctx, st, name); err != nil {
				if errors.Is(err, keystore.ErrNotFound) {
					return fmt.Errorf("profile %s has nothing in the %s keystore (profiles there: %s)", name, st.Backend(), storedProfiles(ctx, st))
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed profile %s from the %s keystore.\n", name, st.Backend())
			if p, ok := cfg.Profiles[name]; ok && contains(p.Sources, "mfad") && cfg.File != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Its settings remain in %s (profiles.%s).\n", cfg.File, name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	addProfileFlag(cmd, &profile, "$MFAD_PROFILE")
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func storedProfiles(ctx context.Context, st keystore.Store) string {
	names, err := st.Profiles(ctx)
	if err != nil || len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// confirm asks a yes/no question on the terminal.
func (a *App) confirm(q string) (bool, error) {
	if f, ok := a.Stdin.(*os.File); !ok || !isTerminal(f) {
		return false, errors.New("no terminal to confirm on: use --force")
	}
	fmt.Fprint(a.Stderr, q)
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes", nil
}

// listEntry is one row of `mfad list`.
type listEntry struct {
	Profile   string   `json:"profile"`
	Keystore  string   `json:"keystore,omitempty"`
	HasKey    bool     `json:"has_key"`
	KeyID     string   `json:"access_key_id,omitempty"`
	MFASerial string   `json:"mfa_serial,omitempty"`
	RoleARN   string   `json:"role_arn,omitempty"`
	Source    string   `json:"source_profile,omitempty"`
	Sources   []string `json:"defined_in,omitempty"`
	// NotServed says why mfad does not serve a profile of the AWS config
	// file that concerns MFA.
	NotServed string `json:"not_served,omitempty"`
	// Session is "unlocked", "locked", "not served", or "unknown" when no
	// daemon runs.
	Session           string    `json:"session"`
	SessionExpiration time.Time `json:"session_expiration,omitzero"`
	// KeyCreated is when IAM created the key, when mfad knows it.
	KeyCreated time.Time `json:"key_created,omitzero"`
	// KeyAgeDays is the key's age in whole days (with KeyCreated).
	KeyAgeDays int `json:"key_age_days,omitempty"`
	// RotationDue reports a key older than the profile's key_max_age.
	RotationDue bool `json:"rotation_due,omitempty"`
}

func newListCmd(app *App) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List profiles, where their keys are kept, and their session state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			status, daemonErr := ask(ctx, app, (*ipc.Client).Status, ipc.StatusRequest{})
			states := map[string]ipc.ProfileStatus{}
			names := map[string]bool{}
			for _, s := range status.Profiles {
				states[s.Profile] = s
				names[s.Profile] = true
			}
			// Without a keystore here (a sandbox's shell, say), the daemon
			// still says which key each profile uses.
			st, err := app.openStore(ctx, cfg)
			if err != nil && daemonErr != nil {
				return err
			}
			if st != nil {
				stored, err := st.Profiles(ctx)
				if err != nil {
					return err
				}
				for _, n := range stored {
					names[n] = true
				}
			}
			for _, n := range cfg.ProfileNames() {
				names[n] = true
			}
			for n := range cfg.NotServed {
				names[n] = true
			}
			now := time.Now()
			var rows []listEntry
			for n := range names {
				e := listEntry{Profile: n, Session: "unknown"}
				if p := cfg.Profiles[n]; p != nil {
					e.MFASerial, e.RoleARN, e.Source, e.Sources = p.MFASerial, p.RoleARN, p.SourceProfile, p.Sources
				}
				if st != nil {
					if k, err := keystore.GetAccessKey(ctx, st, n); err == nil {
						e.HasKey, e.Keystore, e.KeyID, e.KeyCreated = true, st.Backend(), k.AccessKeyID, k.Created
					}
				}
				if s, ok := states[n]; ok && s.AccessKeyID != "" && s.KeyProfile == n {
					if !e.HasKey {
						e.HasKey, e.Keystore, e.KeyID, e.KeyCreated = true, status.Keystore+", in the daemon", s.AccessKeyID, s.KeyCreated
					}
					e.RotationDue = s.RotationDue && s.AccessKeyID == e.KeyID
				}
				if !e.KeyCreated.IsZero() {
					e.KeyAgeDays = int(now.Sub(e.KeyCreated) / (24 * time.Hour))
				}
				if why, ok := cfg.NotServed[n]; ok && cfg.Profiles[n] == nil {
					e.NotServed, e.Session = why, "not served"
				} else if daemonErr == nil {
					if s, ok := states[n]; ok {
						e.Session = "locked"
						if s.Unlocked {
							e.Session, e.SessionExpiration = "unlocked", s.ServedExpiration
						}
					} else {
						e.Session = "not served"
					}
				}
				rows = append(rows, e)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Profile < rows[j].Profile })
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if rows == nil {
					rows = []listEntry{}
				}
				return enc.Encode(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(out, "No profiles yet: add one with `mfad add PROFILE --mfa-serial ARN`.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tKEY\tMFA SERIAL\tROLE\tSESSION")
			for _, r := range rows {
				key := "-"
				switch {
				case r.HasKey:
					key = r.KeyID + " (" + r.Keystore + keyAge(r) + ")"
				case r.Source != "":
					key = "via " + r.Source
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Profile, key, dash(r.MFASerial), dash(r.RoleARN), r.Session)
			}
			tw.Flush()
			for _, r := range rows {
				if r.NotServed != "" {
					fmt.Fprintf(out, "%s is not served: %s.\n", r.Profile, r.NotServed)
				}
			}
			if daemonErr != nil && errors.Is(daemonErr, ipc.ErrNoDaemon) {
				fmt.Fprintln(out, "(no daemon is running: session state unknown; start it with `mfad daemon`)")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// keyAge describes a listed key's age, when known.
func keyAge(r listEntry) string {
	if r.KeyCreated.IsZero() {
		return ""
	}
	s := fmt.Sprintf(", %dd old", r.KeyAgeDays)
	if r.RotationDue {
		s += ", rotation due"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
