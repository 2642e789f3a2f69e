package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/spf13/cobra"
)

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

func storedProfiles(ctx context.Context, st keystore.Store) string {
	names, err := st.Profiles(ctx)
	if err != nil || len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
