package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/console"
	"github.com/c0950fac/mfad/ipc"
)

func newLoginCmd(app *App) *cobra.Command {
	var profile, path string
	var stdout bool
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "login [PROFILE | --profile P] [--stdout] [--duration D] [--path P]",
		Short: "Open the AWS console signed in with a role profile's session",
		Long: `Sign in to the AWS Management Console with a role profile's credentials, through AWS's
federation endpoint (getSigninToken, then a login URL), and open it in the browser.

The console needs role credentials. For a profile holding an IAM user's keys, AWS's only way
is GetFederationToken, whose credentials carry no MFA context: policies that require MFA deny
everything in such a console session, so mfad refuses and points to a role profile instead.

The console session lasts as long as the role credentials. mfad assumes roles from the MFA
session, which AWS treats as role chaining: it caps those role sessions at 1 hour and refuses
a console SessionDuration for them. --duration D (15m to 1h) assumes a role session of that
length for the console; without it, the profile's current role session is used.

The sign-in URL signs in whoever opens it, for 15 minutes: mfad never logs it and never puts
it on a command line. The browser is given a file in mfad's private runtime directory that
redirects to it. --stdout prints the URL instead.`,
		Example: `  mfad login work-admin
  mfad login work-admin --path s3/home --duration 30m
  mfad login work-admin --stdout`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, name, err := app.profileFromArgs(profile, args)
			if err != nil {
				return err
			}
			if duration != 0 && (duration < console.MinSessionDuration || duration > time.Hour) {
				return fmt.Errorf("--duration %s: give 15m to 1h (AWS caps role sessions assumed from an MFA session at 1 hour)", duration)
			}
			r, err := ask(ctx, app, (*ipc.Client).Login, ipc.LoginRequest{Profile: name, DurationSeconds: int64(duration / time.Second), Path: path})
			if err != nil {
				return err
			}
			if stdout {
				fmt.Fprintln(cmd.OutOrStdout(), r.URL)
				fmt.Fprintf(app.Stderr, "mfad: this URL signs in as %s until %s; it is valid for 15 minutes and is a secret.\n", r.RoleARN, fmtTime(r.SessionEnd))
				return nil
			}
			if err := app.openInBrowser(ctx, r.URL); err != nil {
				return fmt.Errorf("open the browser: %w; run `mfad login %s --stdout` and open the URL yourself", err, name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Opened the AWS console as %s; the session lasts until %s.\n", r.RoleARN, fmtTime(r.SessionEnd))
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "profile (default $MFAD_PROFILE, else the only one, else default)")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print the sign-in URL instead of opening the browser")
	cmd.Flags().DurationVar(&duration, "duration", 0, "assume a role session of this length for the console, 15m to 1h (default: the current role session)")
	cmd.Flags().StringVar(&path, "path", "", "console page to open, e.g. s3/home (default: the console home)")
	return cmd
}

// loginFilePrefix names the redirect files `mfad login` writes.
const loginFilePrefix = "login-"

// openInBrowser opens url in the desktop's browser without putting it on
// a command line (where other local users could read it): the browser is
// given a private file that redirects to it. Files older than the URL's
// validity are removed.
func (a *App) openInBrowser(ctx context.Context, url string) error {
	dir, err := a.runtimeDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	removeStaleLoginFiles(dir, time.Now())
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
		`<meta http-equiv="refresh" content="0;url=` + html.EscapeString(url) + `"><title>mfad login</title></head>` +
		`<body>Signing in to the AWS console…</body></html>`
	file := filepath.Join(dir, loginFilePrefix+rand.Text()[:12]+".html")
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		return err
	}
	name, args := browserCommand(file)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = a.Stderr, a.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(file)
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s is not installed", name)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// browserCommand is the program that opens a file in the browser.
func browserCommand(file string) (string, []string) {
	switch runtime.GOOS {
	case "darwin":
		return "open", []string{file}
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", file}
	}
	return "xdg-open", []string{file}
}

// removeStaleLoginFiles deletes redirect files whose URL has expired.
func removeStaleLoginFiles(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), loginFilePrefix) || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > console.URLTTL {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
