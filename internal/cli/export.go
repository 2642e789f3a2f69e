package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/ipc"
)

// Export formats.
const (
	exportEnv       = "env"
	exportExportEnv = "export-env"
	exportJSON      = "json"
	exportINI       = "ini"
)

func newExportCmd(app *App) *cobra.Command {
	var profile, format string
	cmd := &cobra.Command{
		Use:   "export [PROFILE | --profile P] [--format env|export-env|json|ini]",
		Short: "Print a profile's current session credentials, for tools that read only variables or files",
		Long: `Print the profile's current session credentials with their expiry, for the few tools that
read credentials only from environment variables or from a file:

  env         AWS_ACCESS_KEY_ID=... lines, with AWS_REGION when the profile sets one (an env
              file: docker --env-file, systemd EnvironmentFile)
  export-env  export AWS_ACCESS_KEY_ID='...' lines, for eval in a POSIX shell
  json        the credential_process form (Version 1), with Expiration
  ini         a [PROFILE] section for a shared credentials file

These are a copy: nothing refreshes them, and they stop working at the expiry printed with
them (AWS_CREDENTIAL_EXPIRATION). mfad says so on standard error. Prefer ` + "`mfad exec`" + ` or
` + "`mfad env`" + `, whose clients fetch fresh credentials from the daemon by themselves.

The daemon must be running and the profile unlocked; mfad never waits for a code here.`,
		Example: `  mfad export work --format env > work.env
  eval "$(mfad export work --format export-env)"
  mfad export work-admin --format ini >> ~/.aws/credentials-for-legacy-tool`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case exportEnv, exportExportEnv, exportJSON, exportINI:
			default:
				return fmt.Errorf("unknown --format %q: use env, export-env, json or ini", format)
			}
			cfg, name, err := app.profileFromArgs(profile, args)
			if err != nil {
				return err
			}
			region := ""
			if p := cfg.Profiles[name]; p != nil {
				region = p.Region
			}
			r, err := ask(ctx, app, (*ipc.Client).Credentials, ipc.CredentialsRequest{Profile: name})
			if err != nil {
				return err
			}
			if err := writeExport(cmd.OutOrStdout(), format, name, region, r); err != nil {
				return err
			}
			left := time.Until(r.Expiration).Round(time.Minute)
			fmt.Fprintf(app.Stderr, "mfad: these credentials of %s are a copy that nothing refreshes: they stop working at %s (in %s). `mfad exec` and `mfad env` stay current.\n",
				name, fmtTime(r.Expiration), fmtDur(left))
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "profile (default $MFAD_PROFILE, else the only one, else default)")
	cmd.Flags().StringVar(&format, "format", exportEnv, "env, export-env, json or ini")
	return cmd
}

// writeExport prints credentials in one of the export formats.
func writeExport(w io.Writer, format, profile, region string, r ipc.CredentialsReply) error {
	exp := r.Expiration.UTC().Format(time.RFC3339)
	vars := [][2]string{
		{"AWS_ACCESS_KEY_ID", r.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", r.SecretAccessKey},
		{"AWS_SESSION_TOKEN", r.SessionToken},
		{"AWS_CREDENTIAL_EXPIRATION", exp},
	}
	if region != "" {
		vars = append(vars, [2]string{"AWS_REGION", region}, [2]string{"AWS_DEFAULT_REGION", region})
	}
	var err error
	switch format {
	case exportEnv:
		for _, v := range vars {
			_, err = fmt.Fprintf(w, "%s=%s\n", v[0], v[1])
		}
	case exportExportEnv:
		for _, v := range vars {
			_, err = fmt.Fprintf(w, "export %s=%s\n", v[0], shQuote(v[1]))
		}
	case exportJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		r.Version = 1
		r.Expiration = r.Expiration.UTC()
		err = enc.Encode(r)
	case exportINI:
		_, err = fmt.Fprintf(w, "[%s]\n# expires %s: not refreshed\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
			profile, exp, r.AccessKeyID, r.SecretAccessKey, r.SessionToken)
	}
	return err
}
