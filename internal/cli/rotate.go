package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/ipc"
)

func newRotateCmd(app *App) *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "rotate [PROFILE | --profile P]",
		Short: "Replace a profile's long-term access key, through its MFA session",
		Long: `Replace the profile's long-term access key with a new one. The daemon does it through the
profile's MFA session, which IAM policies that demand MFA require for key changes:

  1. iam:ListAccessKeys: AWS allows two keys per user; at two, nothing is created and mfad
     says which key to delete first;
  2. iam:CreateAccessKey, and the new key is stored in the keystore at once;
  3. sts:GetCallerIdentity with the new key, retried with backoff for up to about 40
     seconds while AWS makes the new key known everywhere;
  4. iam:DeleteAccessKey of the old key.

The sessions being served are untouched, so clients notice nothing; the next unlock uses the
new key. Any failure leaves a working key stored and says what state AWS is in — for
example "new key created and stored, old key not deleted: delete AKIA… in IAM".

For a role profile, its source profile's key is rotated. The daemon must be running and
the profile unlocked. Set key_max_age to have ` + "`mfad status`" + ` and ` + "`mfad doctor`" + ` say
when rotation is due.`,
		Example: `  mfad rotate work`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, name, err := app.profileFromArgs(profile, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(app.Stderr, "Rotating the access key of %s through its MFA session...\n", name)
			r, err := ask(ctx, app, (*ipc.Client).Rotate, ipc.RotateRequest{Profile: name})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Rotated the access key of %s: %s replaces %s, which is deleted in IAM.\n", r.KeyProfile, r.NewKeyID, r.OldKeyID)
			fmt.Fprintln(out, "Sessions being served are unchanged; the next unlock uses the new key.")
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "profile (default $MFAD_PROFILE, else the only one, else default)")
	return cmd
}

// firstSet returns the first non-empty value.
func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
