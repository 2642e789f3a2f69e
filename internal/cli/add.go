package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/keystore"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newAddCmd(app *App) *cobra.Command {
	var fromEnv, force bool
	var serial, profile string
	cmd := &cobra.Command{
		Use:   "add PROFILE",
		Short: "Store a profile's long-term access key in the keystore",
		Long: `Store a profile's long-term access key pair in the keystore (the OS keyring, or the
encrypted file store). With --env the key is read from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; otherwise mfad asks for it with hidden input (or reads two lines,
the key id then the secret, from standard input when it is not a terminal).

--mfa-serial records the profile's MFA device in the mfad configuration file.`,
		Example: `  mfad add work --mfa-serial arn:aws:iam::111122223333:mfa/alice
  AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=... mfad add work --env`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := app.namedProfile(profile, args, "mfad add PROFILE")
			if err != nil {
				return err
			}
			if err := keystore.ValidateProfileName(name); err != nil {
				return err
			}
			if serial != "" {
				if err := configs.ValidateMFASerial(serial); err != nil {
					return fmt.Errorf("--mfa-serial: %w", err)
				}
			}
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			key, err := app.readAccessKey(fromEnv)
			if err != nil {
				return err
			}
			if err := key.Validate(); err != nil {
				return err
			}
			st, err := app.openStore(ctx, cfg)
			if err != nil {
				return err
			}
			prev, err := keystore.GetAccessKey(ctx, st, name)
			hadPrev := err == nil
			if err != nil && !errors.Is(err, keystore.ErrNotFound) {
				return err
			}
			if hadPrev && !force {
				return fmt.Errorf("profile %s already has an access key in the %s keystore: use --force to replace it", name, st.Backend())
			}
			if err := keystore.PutAccessKey(ctx, st, name, key); err != nil {
				return err
			}
			if serial != "" {
				file := cfg.File
				if file == "" {
					file = configs.DefaultPath(app.getenv, homeDir(app))
				}
				if err := configs.SetProfileValue(file, name, "mfa_serial", serial); err != nil {
					// Leave the keystore as it was.
					var rerr error
					if hadPrev {
						rerr = keystore.PutAccessKey(ctx, st, name, prev)
					} else {
						rerr = st.Delete(ctx, name, keystore.AccessKeyItem)
					}
					return errors.Join(fmt.Errorf("record mfa_serial: %w (the keystore was left unchanged)", err), rerr)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Stored the access key %s for profile %s in the %s keystore.\n", key.AccessKeyID, name, st.Backend())
			p := cfg.Profiles[name]
			if serial == "" && (p == nil || p.MFASerial == "") {
				fmt.Fprintf(out, "Profile %s has no MFA device yet: run `mfad add %s --mfa-serial ARN --force`, or set mfa_serial in the configuration.\n", name, name)
			}
			if shadow := sharedCredentialsHasProfile(app, name); shadow != "" {
				fmt.Fprintf(out, "Note: %s also holds keys for [%s]; SDKs read that file before the mfad endpoint, so remove them there.\n", shadow, name)
			}
			fmt.Fprintf(out, "Next: start the daemon (`mfad daemon`) and run `mfad unlock %s`.\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromEnv, "env", false, "read the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	cmd.Flags().StringVar(&serial, "mfa-serial", "", "the profile's MFA device (virtual device ARN or hardware serial)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key")
	addProfileFlag(cmd, &profile, "$MFAD_PROFILE")
	return cmd
}

// sharedCredentialsHasProfile returns the shared credentials file's path when
// it holds a section for name.
func sharedCredentialsHasProfile(app *App, name string) string {
	path := app.getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		path = homeDir(app) + "/.aws/credentials"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "["+name+"]" {
			return path
		}
	}
	return ""
}

// readAccessKey reads a key pair from the environment, the terminal (hidden)
// or standard input.
func (a *App) readAccessKey(fromEnv bool) (keystore.AccessKey, error) {
	if fromEnv {
		k := keystore.AccessKey{AccessKeyID: a.getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: a.getenv("AWS_SECRET_ACCESS_KEY")}
		if k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return k, errors.New("--env: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		if a.getenv("AWS_SESSION_TOKEN") != "" || a.getenv("AWS_SECURITY_TOKEN") != "" {
			return keystore.AccessKey{}, errors.New("--env: AWS_SESSION_TOKEN is set, so these are temporary credentials, and mfad needs the IAM user's long-term key; from aws-vault, run `aws-vault exec --no-session PROFILE -- mfad add PROFILE --env`")
		}
		return k, nil
	}
	if f, ok := a.Stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(a.Stderr, "Access key id: ")
		id, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return keystore.AccessKey{}, fmt.Errorf("read access key id: %w", err)
		}
		fmt.Fprint(a.Stderr, "Secret access key: ")
		sec, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return keystore.AccessKey{}, fmt.Errorf("read secret access key: %w", err)
		}
		return keystore.AccessKey{AccessKeyID: strings.TrimSpace(string(id)), SecretAccessKey: strings.TrimSpace(string(sec))}, nil
	}
	r := bufio.NewReader(a.Stdin)
	id, err1 := r.ReadString('\n')
	sec, err2 := r.ReadString('\n')
	if (err1 != nil && err1 != io.EOF) || (err2 != nil && err2 != io.EOF) || strings.TrimSpace(sec) == "" {
		return keystore.AccessKey{}, errors.New("standard input is not a terminal: give the key id and the secret on two lines, or use --env")
	}
	return keystore.AccessKey{AccessKeyID: strings.TrimSpace(id), SecretAccessKey: strings.TrimSpace(sec)}, nil
}
