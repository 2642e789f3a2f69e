package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
)

func newUnlockCmd(app *App) *cobra.Command {
	var code, profile string
	var codeStdin bool
	cmd := &cobra.Command{
		Use:   "unlock [PROFILE]",
		Short: "Unlock a profile with an MFA code: the daemon gets an MFA session from STS",
		Long: `Unlock a profile: the daemon exchanges the profile's long-term key and an MFA code for an
MFA session (STS GetSessionToken), assumes the profile's role when it has one, and serves
the credentials until they expire. The session is cached in the keystore, so restarting
the daemon needs no new code.

When the daemon started without the passphrase of its encrypted keystore file (a service,
` + "`mfad daemon &`" + `), unlock gives it first: from MFAD_FILE_PASSPHRASE, else asked for
on the terminal with hidden input; it goes to the daemon over the control socket only.

With mfa_source process or totp, unlock asks the daemon to get the code from that source
(a YubiKey touch through mfa_process, or the TOTP secret), and falls back to the terminal
when that fails. Otherwise the code is asked for on the terminal. --code-stdin reads it from
standard input (for scripts and password managers). --code CODE puts the code in the process's
argument list,
where other local users can see it while it runs: prefer --code-stdin.`,
		Example: `  mfad unlock work
  ykman oath accounts code --single work | mfad unlock work --code-stdin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			name, err := app.pickProfile(cfg, given)
			if err != nil {
				return err
			}
			c, err := app.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := app.openDaemonKeystore(ctx, c); err != nil {
				return err
			}
			var st ipc.ProfileStatus
			done := false
			if code == "" && !codeStdin && app.roleUnlocksWithoutCode(ctx, c, name) {
				// A role profile locked on its own: its MFA session is valid.
				if st, err = c.Unlock(ctx, ipc.UnlockRequest{Profile: name}); err != nil {
					return err
				}
				done = true
			} else if code == "" && !codeStdin {
				if st, done, err = app.unlockFromSource(ctx, c, name); err != nil {
					return err
				}
			}
			if !done {
				if code == "" {
					code, err = app.readCode(name, codeStdin)
					if err != nil {
						return err
					}
				}
				if err := session.ValidateCode(code); err != nil {
					return err
				}
				if st, err = c.Unlock(ctx, ipc.UnlockRequest{Profile: name, Code: code}); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Unlocked %s: credentials served until %s", name, fmtTime(st.ServedExpiration))
			if !st.SessionExpiration.IsZero() {
				fmt.Fprintf(out, " (MFA session until %s)", fmtTime(st.SessionExpiration))
			}
			fmt.Fprintln(out, ".")
			if st.SuggestedMFAMaxAgeSeconds > 0 {
				fmt.Fprintf(out, "Your policy files require an MFA no older than %s: set mfa_max_age: %s for profile %s so mfad asks for a new code in time.\n",
					fmtDur(time.Duration(st.SuggestedMFAMaxAgeSeconds)*time.Second), fmtDur(time.Duration(st.SuggestedMFAMaxAgeSeconds)*time.Second), st.KeyProfile)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "the MFA code (visible to other local users in the process list: prefer --code-stdin)")
	cmd.Flags().BoolVar(&codeStdin, "code-stdin", false, "read the MFA code from standard input")
	cmd.MarkFlagsMutuallyExclusive("code", "code-stdin")
	addProfileFlag(cmd, &profile, profileDefaults)
	return cmd
}

// roleUnlocksWithoutCode reports whether name is a role profile locked on
// its own while its key profile's MFA session is valid: the daemon then
// unlocks it with no code.
func (a *App) roleUnlocksWithoutCode(ctx context.Context, c *ipc.Client, name string) bool {
	st, err := c.Status(ctx, ipc.StatusRequest{Profile: name})
	if err != nil || len(st.Profiles) != 1 {
		return false
	}
	p := st.Profiles[0]
	return p.RoleLocked && p.SessionExpiration.After(time.Now().Add(time.Minute))
}

// unlockFromSource asks the daemon to unlock name with a code from the
// profile's configured source when no person needs to type it: mfa_process
// (a YubiKey touch) or totp. done is false when the terminal should be
// asked instead: a prompt source, or a source that failed while a terminal
// is there to fall back to.
func (a *App) unlockFromSource(ctx context.Context, c *ipc.Client, name string) (st ipc.ProfileStatus, done bool, err error) {
	sr, err := c.Status(ctx, ipc.StatusRequest{Profile: name})
	if err != nil {
		return st, false, err
	}
	if len(sr.Profiles) != 1 {
		return st, false, nil
	}
	src := sr.Profiles[0].MFASource
	if src != configs.MFASourceProcess && src != configs.MFASourceTOTP {
		return st, false, nil
	}
	if src == configs.MFASourceProcess {
		fmt.Fprintf(a.Stderr, "Getting an MFA code for %s from mfa_process (touch your security key if it blinks)...\n", sr.Profiles[0].KeyProfile)
	}
	st, err = c.Unlock(ctx, ipc.UnlockRequest{Profile: name, FromSource: true})
	if err == nil {
		return st, true, nil
	}
	f, ok := a.Stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return st, false, fmt.Errorf("mfa_source %s gave no code: %w", src, err)
	}
	fmt.Fprintf(a.Stderr, "mfa_source %s gave no code (%v): type it instead.\n", src, err)
	return st, false, nil
}

// openDaemonKeystore gives the daemon its keystore file's passphrase when
// it waits for one (a daemon started with no terminal): from
// MFAD_FILE_PASSPHRASE, the systemd credential, or a hidden prompt on the
// terminal. The passphrase goes over the control socket only.
func (a *App) openDaemonKeystore(ctx context.Context, c *ipc.Client) error {
	st, err := c.Status(ctx, ipc.StatusRequest{})
	if err != nil {
		return err
	}
	if !st.KeystoreLocked {
		return nil
	}
	file := st.KeystoreFile
	if f, ok := a.Stdin.(*os.File); ok && isTerminal(f) && a.getenv(keystore.PassphraseEnv) == "" {
		fmt.Fprintf(a.Stderr, "The daemon waits for the passphrase of its keystore file %s.\n", file)
	}
	pass, err := a.passphrase(file)(ctx)
	if err != nil {
		return fmt.Errorf("the daemon waits for the passphrase of its keystore file: %w", err)
	}
	defer clear(pass)
	if _, err := c.Passphrase(ctx, ipc.PassphraseRequest{Passphrase: string(pass)}); err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "Opened the keystore file %s.\n", file)
	return nil
}

// readCode reads an MFA code from standard input or the terminal.
func (a *App) readCode(profile string, fromStdin bool) (string, error) {
	f, isFile := a.Stdin.(*os.File)
	tty := isFile && isTerminal(f)
	if !fromStdin && !tty {
		return "", errors.New("no terminal to ask for the MFA code on: pipe it with --code-stdin")
	}
	if tty && !fromStdin {
		fmt.Fprintf(a.Stderr, "MFA code for %s: ", profile)
	}
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the MFA code: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func newLockCmd(app *App) *cobra.Command {
	var all bool
	var profile string
	cmd := &cobra.Command{
		Use:   "lock [PROFILE | --profile P | --all]",
		Short: "Drop a profile's sessions from the daemon and the keystore",
		Long: `Drop a profile's session from the daemon and the keystore: clients get ProfileLocked
until it is unlocked again. Locking a role profile drops that role session only; locking
a key profile drops its MFA session and so every role profile made from it. --all locks
every profile.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := ipc.LockRequest{All: all}
			given, err := profileArg(profile, args)
			if err != nil {
				return err
			}
			if !all {
				cfg, err := app.loadConfig()
				if err != nil {
					return err
				}
				if req.Profile, err = app.pickProfile(cfg, given); err != nil {
					return fmt.Errorf("%w; or lock every profile with --all", err)
				}
			} else if given != "" {
				return errors.New("give a PROFILE or --all, not both")
			}
			lr, err := ask(ctx, app, (*ipc.Client).Lock, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Locked: %s\n", strings.Join(lr.Locked, ", "))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "lock every profile")
	addProfileFlag(cmd, &profile, profileDefaults)
	return cmd
}

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
