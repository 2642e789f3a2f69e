package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

func newStatusCmd(app *App) *cobra.Command {
	var asJSON, short bool
	var profile string
	cmd := &cobra.Command{
		Use:   "status [PROFILE | --profile P]",
		Short: "Show each profile's session, MFA age and next refresh",
		Long: `Show, for each profile: locked or unlocked, when the MFA code was entered and its age
against the profile's mfa_max_age window, the session and role expiry, what clients are
served, the next refresh, the code source, and whether a new code is needed. It warns
when STS issues credentials shorter than the profile's lead (they are then renewed at half
their life, at most once a minute) and when this machine's clock is a minute or more off
STS's.

--short prints one line for a shell prompt, e.g. "work:ok" or "work:code!" (a new code is
needed) or "work:locked"; it prints nothing and exits 0 when no daemon runs.

Without a profile it shows every profile, whatever MFAD_PROFILE says.`,
		Example: `  mfad status
  PS1='$(mfad status --short 2>/dev/null) \$ '`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			st, err := ask(ctx, app, (*ipc.Client).Status, ipc.StatusRequest{Profile: given})
			out := cmd.OutOrStdout()
			if short {
				if err != nil {
					if errors.Is(err, ipc.ErrNoDaemon) {
						return nil
					}
					return err
				}
				fmt.Fprintln(out, shortStatus(st.Profiles))
				return nil
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(out, st, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&short, "short", false, "print one line for a shell prompt")
	addProfileFlag(cmd, &profile, "every profile")
	return cmd
}

func shortStatus(ps []ipc.ProfileStatus) string {
	var parts []string
	for _, p := range ps {
		s := "locked"
		switch {
		case !p.Unlocked:
		case p.NeedCode || p.WindowLapsed:
			s = "code!"
		default:
			s = "ok"
		}
		parts = append(parts, p.Profile+":"+s)
	}
	return strings.Join(parts, " ")
}

func printStatus(w io.Writer, st ipc.StatusReply, now time.Time) {
	fmt.Fprintf(w, "daemon pid %d, endpoint %s, keystore %s\n", st.PID, st.Endpoint, st.Keystore)
	if st.KeystoreLocked {
		fmt.Fprintf(w, "the keystore file %s waits for its passphrase: run `mfad unlock`\n", st.KeystoreFile)
	}
	if st.ClockSkewSeconds != 0 {
		off := time.Duration(st.ClockSkewSeconds) * time.Second
		way := "behind"
		if off < 0 {
			way = "ahead of"
		}
		fmt.Fprintf(w, "warning: this machine's clock is %s %s STS's: mfad reads expiries on STS's time, but set the clock right (NTP)\n", fmtDur(off.Abs()), way)
	}
	if st.ConfigError != "" {
		fmt.Fprintf(w, "configuration change refused (the previous configuration is served): %s\n", st.ConfigError)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tSTATE\tMFA AGE\tSERVED UNTIL\tSESSION UNTIL\tNEXT REFRESH\tCODE SOURCE")
	for _, p := range st.Profiles {
		state, age, served, sess, next := "locked", "-", "-", "-", "-"
		if p.Unlocked {
			state = "unlocked"
			age = fmtDur(time.Duration(p.MFAAgeSeconds) * time.Second)
			if p.MFAMaxAgeSeconds > 0 {
				age += " / " + fmtDur(time.Duration(p.MFAMaxAgeSeconds)*time.Second)
			}
			served = fmtLeft(p.ServedExpiration, now)
			sess = fmtLeft(p.SessionExpiration, now)
			if !p.RoleExpiration.IsZero() {
				sess += ", role " + fmtLeft(p.RoleExpiration, now)
			}
			if !p.NextRefresh.IsZero() {
				next = fmtTime(p.NextRefresh)
			}
		}
		if p.WindowLapsed {
			state = "window lapsed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Profile, state, age, served, sess, next, p.MFASource)
	}
	tw.Flush()
	for _, p := range st.Profiles {
		switch {
		case p.RoleLocked:
			fmt.Fprintf(w, "\n%s: locked: run `mfad unlock %s`", p.Profile, p.Profile)
		case !p.Unlocked:
			fmt.Fprintf(w, "\n%s: locked: run `mfad unlock %s`", p.Profile, p.KeyProfile)
		case p.NeedCode:
			fmt.Fprintf(w, "\n%s: a new MFA code is needed (%s): run `mfad unlock %s`", p.Profile, p.CodeReason, p.KeyProfile)
		}
		if p.LastError != "" {
			fmt.Fprintf(w, "\n%s: last error: %s", p.Profile, p.LastError)
		}
		if p.RotationDue && p.Profile == p.KeyProfile {
			fmt.Fprintf(w, "\n%s: access key %s is %s old, past key_max_age %s: rotation is due: run `mfad rotate %s`", p.Profile, p.AccessKeyID,
				fmtDays(now.Sub(p.KeyCreated)), fmtDays(time.Duration(p.KeyMaxAgeSeconds)*time.Second), p.KeyProfile)
		}
		if p.ShortLifetimeSeconds > 0 {
			fmt.Fprintf(w, "\n%s: STS issues credentials lasting %s, less than the profile's lead: they are renewed at half their life, at most once a minute", p.Profile, fmtDur(time.Duration(p.ShortLifetimeSeconds)*time.Second))
		}
		if p.SuggestedMFAMaxAgeSeconds > 0 {
			fmt.Fprintf(w, "\n%s: its policy files require an MFA no older than %s: set mfa_max_age: %s", p.Profile, fmtDur(time.Duration(p.SuggestedMFAMaxAgeSeconds)*time.Second), fmtDur(time.Duration(p.SuggestedMFAMaxAgeSeconds)*time.Second))
		}
	}
	fmt.Fprintln(w)
}

// fmtDays prints a duration of days as "90d", shorter ones as fmtDur does.
func fmtDays(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return fmtDur(d.Truncate(time.Minute))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtLeft(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	left := t.Sub(now).Round(time.Minute)
	if left <= 0 {
		return t.Local().Format("15:04") + " (expired)"
	}
	return fmt.Sprintf("%s (%s left)", t.Local().Format("15:04"), fmtDur(left))
}

// fmtDur prints a duration without zero units: 1h, 1h30m, 45m12s.
func fmtDur(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
