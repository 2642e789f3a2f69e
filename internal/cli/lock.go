package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

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
