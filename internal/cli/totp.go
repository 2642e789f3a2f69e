package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/mfacode"
	"github.com/spf13/cobra"
)

func newTOTPCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "totp",
		Short: "Keep a profile's TOTP secret in the keystore (opt-in, see --help)",
		Long: `With mfa_source: totp, mfad makes MFA codes itself from a TOTP secret kept in the keystore,
so sessions renew with no person involved. This trades the second factor's independence for
convenience: anyone who can read your keystore then holds both factors. Prefer a YubiKey
(mfa_source: process with ykman) or prompt where your organisation expects a real second
factor.`,
	}
	var setProfile, removeProfile string
	set := &cobra.Command{
		Use:   "set PROFILE",
		Short: "Store a TOTP secret (base32 or otpauth:// URI, read from standard input)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(setProfile, args, "mfad totp set PROFILE")
			if err != nil {
				return err
			}
			args = []string{name}
			if err := keystore.ValidateProfileName(args[0]); err != nil {
				return err
			}
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			if f, ok := app.Stdin.(*os.File); ok && isTerminal(f) {
				fmt.Fprint(app.Stderr, "TOTP secret (base32 or otpauth:// URI), then Enter: ")
			}
			raw, err := io.ReadAll(io.LimitReader(app.Stdin, 4096))
			if err != nil {
				return fmt.Errorf("read the TOTP secret: %w", err)
			}
			sec, err := mfacode.ParseSecret(strings.TrimSpace(string(raw)))
			if err != nil {
				return err
			}
			st, err := app.openStore(ctx, cfg)
			if err != nil {
				return err
			}
			if err := st.Set(ctx, args[0], keystore.TOTPItem, []byte(sec.Reveal())); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored the TOTP secret of profile %s in the %s keystore. Set mfa_source: totp for it to take effect.\n", args[0], st.Backend())
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove PROFILE",
		Short: "Remove a profile's TOTP secret",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(removeProfile, args, "mfad totp remove PROFILE")
			if err != nil {
				return err
			}
			args = []string{name}
			_, st, err := app.configAndStore(ctx)
			if err != nil {
				return err
			}
			if err := st.Delete(ctx, args[0], keystore.TOTPItem); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed the TOTP secret of profile %s.\n", args[0])
			return nil
		},
	}
	addProfileFlag(set, &setProfile, "$MFAD_PROFILE")
	addProfileFlag(remove, &removeProfile, "$MFAD_PROFILE")
	cmd.AddCommand(set, remove)
	return cmd
}
