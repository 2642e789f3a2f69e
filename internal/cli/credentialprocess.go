package cli

import (
	"encoding/json"

	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

func newCredentialProcessCmd(app *App) *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "credential-process [PROFILE | --profile P]",
		Short: "Print a profile's credentials as credential_process JSON",
		Long: `Print the profile's current credentials in the credential_process format (Version 1), for
tools configured with credential_process in ~/.aws/config:

  [profile work-mfa]
  credential_process = mfad credential-process work

The daemon must be running and the profile unlocked; mfad never waits for a code here.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, name, err := app.profileFromArgs(profile, args)
			if err != nil {
				return err
			}
			r, err := ask(ctx, app, (*ipc.Client).Credentials, ipc.CredentialsRequest{Profile: name})
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
		},
	}
	addProfileFlag(cmd, &profile, profileDefaults)
	return cmd
}
