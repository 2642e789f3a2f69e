package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/session"
	"github.com/spf13/cobra"
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
