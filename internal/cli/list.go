package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/spf13/cobra"
)

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
