package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

// Sandbox profile names.
const (
	sandboxProfile     = "sandbox"
	sandboxRoleProfile = "sandbox-admin"
)

func newSandboxCmd(app *App) *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "sandbox [--profile P] [-- CMD ARGS...]",
		Short: "Run the whole loop on this machine, with no AWS account",
		Long: `Start an STS emulator (strict like AWS: SigV4, single-use TOTP codes, duration limits) with
a generated user, virtual MFA device and MFA-protected role; a keystore file and configuration
in a temporary directory, removed when the sandbox stops; and a daemon, unlocked automatically
with a TOTP code (mfa_source: totp, mfa_max_age: 1h). Every mfad command run in the sandbox's
shell (CMD, or the lines printed to paste) uses that daemon, configuration and keystore.
Where a real device would make you wait for its next code (AWS accepts each code once), the
sandbox's virtual device moves to its next 30-second step at once: codes are still single-use.

Profiles: sandbox (the MFA session) and sandbox-admin (a role assumed from it). The user is
under the MFA policy AWS documents (long-term keys alone are denied), and the emulator also
answers IAM's key calls and the console federation endpoint: mfad rotate sandbox, mfad login
sandbox-admin --stdout and mfad export sandbox work in the sandbox's shell.

With CMD, run it against the sandbox (AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_IAM point at
the emulator) and exit with its status. Without CMD, serve until interrupted and print the
lines to paste into another shell.`,
		Example: `  mfad sandbox -- aws sts get-caller-identity
  mfad sandbox --profile sandbox-admin -- aws sts get-caller-identity
  mfad sandbox -- mfad rotate sandbox
  mfad sandbox`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if profile != sandboxProfile && profile != sandboxRoleProfile {
				return fmt.Errorf("--profile must be %s or %s", sandboxProfile, sandboxRoleProfile)
			}
			sb, err := startSandbox(ctx, app)
			if err != nil {
				return err
			}
			defer sb.close()
			c, err := ipc.Dial(ctx, ipc.SocketPath(sb.dir))
			if err != nil {
				return err
			}
			defer c.Close()
			issue := c.Env
			if len(args) > 0 {
				issue = c.Exec
			}
			r, err := issue(ctx, ipc.EnvRequest{Profile: profile, Label: "mfad sandbox"})
			if err != nil {
				return err
			}
			vars := append(envVars(r), sb.extraVars(app.getenv("PATH"))...)
			if len(args) > 0 {
				fmt.Fprintf(app.Stderr, "mfad sandbox: STS emulator at %s, profile %s unlocked; running %s\n", sb.emu.URL, profile, args[0])
				return runChild(app, args, childEnv(app.environ(), vars))
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "mfad sandbox is serving. STS emulator: %s\n", sb.emu.URL)
			fmt.Fprintf(out, "Virtual MFA device %s: %s\n", sb.user.MFASerial, sb.emu.OTPURI(sb.user))
			fmt.Fprintf(out, "Profiles: %s (MFA session), %s (role %s)\n\n", sandboxProfile, sandboxRoleProfile, sb.roleARN)
			fmt.Fprintln(out, "Paste into another shell (bash, zsh):")
			fmt.Fprintf(out, "unset %s\n", strings.Join(shadowing(), " "))
			for _, v := range vars {
				fmt.Fprintf(out, "export %s=%s\n", v[0], shQuote(v[1]))
			}
			fmt.Fprintln(out, "\nthen: aws sts get-caller-identity; mfad status. Interrupt (Ctrl-C) to stop.")
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", sandboxProfile, "sandbox profile for CMD: sandbox or sandbox-admin")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// sandbox is a running emulator, daemon and runtime directory.
type sandbox struct {
	emu     *stsemu.Server
	user    stsemu.User
	roleARN string
	dir     string
	shimDir string
	// pass is the passphrase of the sandbox's keystore file.
	pass string
	stop context.CancelFunc
	done chan error
}

// extraVars point clients at the emulator and away from the user's own AWS
// files, and every mfad command at the sandbox: its daemon, configuration
// and keystore file. Variables that would override the sandbox's
// configuration are emptied.
func (s *sandbox) extraVars(path string) [][2]string {
	v := [][2]string{
		{"AWS_ENDPOINT_URL_STS", s.emu.URL},
		{"AWS_ENDPOINT_URL_IAM", s.emu.URL},
		{"AWS_CONFIG_FILE", filepath.Join(s.dir, "aws-config")},
		{"AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.dir, "aws-credentials")},
		{"MFAD_RUNTIME_DIR", s.dir},
		{"MFAD_CONFIG", filepath.Join(s.dir, sandboxConfigFile)},
		{"MFAD_FILE_PASSPHRASE", s.pass},
		{"MFAD_PROFILE", sandboxProfile},
		{"MFAD_KEYRING_BACKEND", ""},
		{"MFAD_KEYRING_FILE", ""},
		{"MFAD_LISTEN", ""},
		{"MFAD_STS_ENDPOINT", ""},
		{"MFAD_IAM_ENDPOINT", ""},
		{"MFAD_SIGNIN_ENDPOINT", ""},
		{"MFAD_LOCK_ON_SLEEP", ""},
		{"MFAD_LOCK_ON_SCREEN_LOCK", ""},
	}
	if s.shimDir != "" {
		v = append(v, [2]string{"PATH", s.shimDir + string(os.PathListSeparator) + path})
	}
	return v
}

// awsShim is put first on the sandbox's PATH as "aws": AWS CLI versions
// before 2.13 ignore AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_IAM, so STS
// and IAM commands are given --endpoint-url pointing at the emulator;
// everything else passes through.
const awsShim = `#!/bin/sh
# Written by mfad sandbox. AWS CLI versions before 2.13 ignore
# AWS_ENDPOINT_URL_STS and _IAM: give STS and IAM commands the emulator's
# --endpoint-url.
real=%s
case " $* " in
  *" --endpoint-url"*) ;;
  *" sts "*) exec "$real" --endpoint-url "$AWS_ENDPOINT_URL_STS" "$@" ;;
  *" iam "*) exec "$real" --endpoint-url "$AWS_ENDPOINT_URL_IAM" "$@" ;;
esac
exec "$real" "$@"
`

// writeAWSShim writes the aws shim when an AWS CLI is on path.
func (s *sandbox) writeAWSShim(path string) error {
	real, err := lookPathIn("aws", path)
	if err != nil || runtime.GOOS == "windows" {
		return nil
	}
	s.shimDir = filepath.Join(s.dir, "bin")
	if err := os.MkdirAll(s.shimDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.shimDir, "aws"), []byte(fmt.Sprintf(awsShim, shQuote(real))), 0o700)
}

func startSandbox(ctx context.Context, app *App) (*sandbox, error) {
	if app.logLevel == "" && app.getenv("MFAD_LOG_LEVEL") == "" {
		app.logLevel = "warn" // keep CMD's output readable
	}
	log := app.logger()
	dev := &deviceClock{}
	emu, err := stsemu.Start(stsemu.Options{Logger: log, MFANow: dev.Now})
	if err != nil {
		return nil, fmt.Errorf("start the STS emulator: %w", err)
	}
	sb := &sandbox{emu: emu}
	ok := false
	defer func() {
		if !ok {
			sb.close()
		}
	}()
	if sb.user, err = emu.AddUser("sandbox-user"); err != nil {
		return nil, err
	}
	if err := emu.RequireMFA(sb.user.Name); err != nil {
		return nil, err
	}
	sb.roleARN = emu.AddRole("sandbox-admin", stsemu.RoleOptions{RequireMFA: true})
	if sb.dir, err = os.MkdirTemp("", "mfad-sandbox-"); err != nil {
		return nil, fmt.Errorf("create the sandbox directory: %w", err)
	}
	for _, f := range []string{"aws-config", "aws-credentials"} {
		if err := os.WriteFile(filepath.Join(sb.dir, f), nil, 0o600); err != nil {
			return nil, err
		}
	}
	if err := sb.writeAWSShim(app.getenv("PATH")); err != nil {
		return nil, fmt.Errorf("write the sandbox's aws wrapper: %w", err)
	}
	// The configuration and keystore are files in the sandbox directory, so
	// that every mfad command run in the sandbox's shell uses them too.
	var pass [24]byte
	_, _ = rand.Read(pass[:])
	sb.pass = base64.RawURLEncoding.EncodeToString(pass[:])
	cfgFile := filepath.Join(sb.dir, sandboxConfigFile)
	if err := os.WriteFile(cfgFile, []byte(sandboxConfig(emu.URL, sb.user.MFASerial, sb.roleARN, filepath.Join(sb.dir, "keystore"))), 0o600); err != nil {
		return nil, fmt.Errorf("write the sandbox configuration: %w", err)
	}
	vars := map[string]string{}
	for _, v := range sb.extraVars("") {
		vars[v[0]] = v[1]
	}
	cfg, err := configs.Load(configs.LoadOptions{File: cfgFile, Getenv: func(k string) string { return vars[k] }, HomeDir: sb.dir})
	if err != nil {
		return nil, fmt.Errorf("load the sandbox configuration: %w", err)
	}
	// The keys are the emulator's, valid for the sandbox's life: cheap
	// key derivation keeps every command in the sandbox fast.
	st, err := keystore.OpenFile(ctx, cfg.Keyring.File, func(context.Context) ([]byte, error) { return []byte(sb.pass), nil },
		keystore.WithKDFParams(keystore.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}))
	if err != nil {
		return nil, fmt.Errorf("create the sandbox keystore: %w", err)
	}
	if err := keystore.PutAccessKey(ctx, st, sandboxProfile, keystore.AccessKey{AccessKeyID: sb.user.AccessKeyID, SecretAccessKey: sb.user.SecretAccessKey}); err != nil {
		return nil, err
	}
	if err := st.Set(ctx, sandboxProfile, keystore.TOTPItem, []byte(emu.OTPURI(sb.user))); err != nil {
		return nil, err
	}
	d, err := app.newDaemon(cfg, st, nil, dev)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sb.stop = cancel
	sb.done = make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		sb.done <- d.Run(dctx, daemon.RunOptions{RuntimeDir: sb.dir, Listen: "127.0.0.1:0", Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-sb.done:
		sb.done <- err
		return nil, fmt.Errorf("start the sandbox daemon: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if _, err := d.Unlock(ctx, sandboxProfile, emu.Code(sb.user, dev.Now())); err != nil {
		return nil, fmt.Errorf("unlock the sandbox: %w", err)
	}
	ok = true
	return sb, nil
}

// deviceClock is the time of the sandbox's virtual MFA device, shared by
// the emulator, which checks its codes, and the daemon, which makes them
// from its TOTP secret. It runs with the wall clock; where the next code
// must wait for the next TOTP step (each code is accepted once), the device
// moves to that step at once instead: every code is still a new step's,
// used once, but locking and unlocking again in the sandbox takes no 30 s.
type deviceClock struct {
	mu    sync.Mutex
	ahead time.Duration
}

// Now is the device's time.
func (c *deviceClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.ahead)
}

// Wait moves the device's time d ahead.
func (c *deviceClock) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ahead += max(d, 0)
	return nil
}

// sandboxConfigFile is the sandbox's configuration file, in its directory.
const sandboxConfigFile = "config.yaml"

// sandboxConfig is the sandbox's configuration file.
func sandboxConfig(stsURL, serial, roleARN, keystoreFile string) string {
	return fmt.Sprintf(`# Written by mfad sandbox; removed when it stops.
sts_endpoint: %s
iam_endpoint: %s
signin_endpoint: %s
listen: 127.0.0.1:0
keyring:
  backend: file
  file: %s
profiles:
  %s:
    mfa_serial: %s
    region: us-east-1
    mfa_source: totp
    mfa_max_age: 1h
  %s:
    role_arn: %s
    source_profile: %s
    region: us-east-1
`, stsURL, stsURL, stsURL+stsemu.FederationPath, keystoreFile, sandboxProfile, serial, sandboxRoleProfile, roleARN, sandboxProfile)
}

func (s *sandbox) close() {
	if s.stop != nil {
		s.stop()
		if err := <-s.done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "mfad sandbox:", err)
		}
	}
	if s.emu != nil {
		s.emu.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
