package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/c0950fac/mfad/internal/childenv"
	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

// shadowing lists variables that would take precedence over the container
// credentials endpoint in SDKs' credential chains.
func shadowing() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
	}
}

// envVars are the variables that point a client at the endpoint.
func envVars(r ipc.EnvReply) [][2]string {
	v := [][2]string{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", r.URL},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN", r.Token},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", r.TokenFile},
	}
	if r.Region != "" {
		v = append(v, [2]string{"AWS_REGION", r.Region}, [2]string{"AWS_DEFAULT_REGION", r.Region})
	}
	return v
}

func newEnvCmd(app *App) *cobra.Command {
	var profile, format string
	var pid int
	cmd := &cobra.Command{
		Use:   "env [PROFILE | --profile P] [--format sh|fish|powershell|json]",
		Short: "Print the variables that point SDKs and the AWS CLI at the daemon",
		Long: `Print the variables that make every AWS SDK and the AWS CLI fetch a profile's credentials
from the daemon (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN and
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, AWS_REGION), and unset those that would take
precedence (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, ...).
Each call issues a token for that profile, which ends when the process that started mfad env
exits — the shell of eval "$(mfad env)" — or with --pid PID when process PID exits; --pid 0
keeps it until it is revoked. List and revoke tokens with ` + "`mfad tokens`" + `.`,
		Example: `  eval "$(mfad env work)"          # bash, zsh
  mfad env work --format fish | source
  mfad env --profile work --format powershell | Invoke-Expression`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, name, err := app.profileFromArgs(profile, args)
			if err != nil {
				return err
			}
			holder := os.Getppid()
			if cmd.Flags().Changed("pid") {
				if pid < 0 {
					return fmt.Errorf("--pid %d: give a process id, or 0 for a token that lasts until revoked", pid)
				}
				holder = pid
			}
			label := fmt.Sprintf("mfad env (pid %d)", holder)
			if holder == 0 {
				label = "mfad env"
			}
			r, err := ask(ctx, app, (*ipc.Client).Env, ipc.EnvRequest{Profile: name, Label: label, WatchPID: holder})
			if err != nil {
				return err
			}
			return writeEnv(cmd.OutOrStdout(), format, r)
		},
	}
	addProfileFlag(cmd, &profile, profileDefaults)
	cmd.Flags().StringVar(&format, "format", "sh", "sh (bash, zsh), fish, powershell or json")
	cmd.Flags().IntVar(&pid, "pid", 0, "the token ends when this process exits (default: the parent process; 0 = when revoked)")
	return cmd
}

func writeEnv(w io.Writer, format string, r ipc.EnvReply) error {
	vars := envVars(r)
	switch format {
	case "sh", "bash", "zsh":
		fmt.Fprintf(w, "unset %s;\n", strings.Join(shadowing(), " "))
		for _, v := range vars {
			fmt.Fprintf(w, "export %s=%s;\n", v[0], shQuote(v[1]))
		}
	case "fish":
		for _, s := range shadowing() {
			fmt.Fprintf(w, "set -e %s;\n", s)
		}
		for _, v := range vars {
			fmt.Fprintf(w, "set -gx %s %s;\n", v[0], shQuote(v[1]))
		}
	case "powershell", "pwsh":
		for _, s := range shadowing() {
			fmt.Fprintf(w, "Remove-Item Env:%s -ErrorAction SilentlyContinue\n", s)
		}
		for _, v := range vars {
			fmt.Fprintf(w, "$Env:%s = '%s'\n", v[0], strings.ReplaceAll(v[1], "'", "''"))
		}
	case "json":
		m := map[string]string{}
		for _, v := range vars {
			m[v[0]] = v[1]
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	default:
		return fmt.Errorf("unknown --format %q: use sh, fish, powershell or json", format)
	}
	return nil
}

// shQuote quotes s for POSIX shells and fish.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// childEnv is base without the shadowing variables and mfad's secrets,
// plus vars.
func childEnv(base []string, vars [][2]string) []string {
	base = childenv.Scrub(base)
	drop := map[string]bool{}
	for _, s := range shadowing() {
		drop[s] = true
	}
	for _, v := range vars {
		drop[v[0]] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		out = append(out, v[0]+"="+v[1])
	}
	return out
}
