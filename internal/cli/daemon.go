package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/mfacode"
	"github.com/c0950fac/mfad/policy"
	"github.com/c0950fac/mfad/session"
	"github.com/spf13/cobra"
)

// daemonGCPercent is the daemon's GOGC, unless the environment sets one.
const daemonGCPercent = 400

func newDaemonCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the mfad daemon in the foreground (one per user)",
		Long: `Run the daemon in the foreground, for systemd, launchd or a terminal. It restores cached
sessions, listens on the control socket ($XDG_RUNTIME_DIR/mfad/control.sock, or
$MFAD_RUNTIME_DIR) and serves credentials on 127.0.0.1 (config key listen). It stops on
SIGINT or SIGTERM; sessions stay cached in the keystore for the next start.

It follows its configuration file and ~/.aws/config ($AWS_CONFIG_FILE), and reads them again
on SIGHUP: profiles appear, change and disappear without a restart, and those that did not
change keep their sessions. A configuration that does not load is refused — the log and
` + "`mfad status`" + ` say why — and the previous one goes on being served. listen, keyring,
sts_endpoint and lock_on_* take effect at the next start.

It runs on one CPU while its clients ask one at a time, and on all of them as soon as several
ask at once; it collects garbage less often than Go's default (GOGC=400). GOMAXPROCS and GOGC
set in the environment are left as they are.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Nothing the daemon starts (mfa_process, dialogs) may inherit
			// the keystore passphrase.
			app.holdPassphrase()
			cfg, err := app.loadConfig()
			if err != nil {
				return err
			}
			st, err := app.openDaemonStore(ctx, cfg)
			if err != nil {
				return err
			}
			dir, err := app.runtimeDir()
			if err != nil {
				return err
			}
			audit, err := openAuditLog(app)
			if err != nil {
				return err
			}
			defer audit.Close()
			d, err := app.newDaemon(cfg, st, audit, nil)
			if err != nil {
				return err
			}
			if app.getenv("GOGC") == "" {
				// The daemon holds a few MiB for good (SDK clients,
				// configuration, keystore) and serves requests that each
				// allocate a little: collecting less often halves what the
				// collector costs per request under load. An idle daemon
				// returns what it freed after each burst.
				debug.SetGCPercent(daemonGCPercent)
			}
			// The configuration files are followed: profiles appear, change
			// and disappear without a restart.
			wctx, wcancel := context.WithCancel(ctx)
			log := app.logger()
			files := []string{cfg.Path, configs.DefaultAWSConfigPath(app.getenv, homeDir(app))}
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				watchConfig(wctx, log, files, func() {
					rctx, cancel := context.WithTimeout(wctx, time.Minute)
					defer cancel()
					_ = d.Reload(rctx, app.loadConfig)
				})
			}()
			defer func() { wcancel(); <-watched }()
			return d.Run(ctx, daemon.RunOptions{RuntimeDir: dir, Listen: cfg.Listen, InstanceLock: instanceLock(app, dir),
				Parallelism: parallelism(app)})
		},
	}
}

// mfaClock is the time of MFA devices whose codes the daemon makes (TOTP
// secrets), and how it waits for their next step. nil: the system clock,
// waiting in real time.
type mfaClock interface {
	Now() time.Time
	Wait(ctx context.Context, d time.Duration) error
}

// newDaemon wires a daemon from the configuration and keystore; dev is nil
// except in the sandbox, whose virtual MFA device keeps its own time.
func (app *App) newDaemon(cfg *configs.Config, st keystore.Store, audit io.Writer, dev mfaClock) (*daemon.Daemon, error) {
	l := app.logger()
	broker := session.NewBroker(session.BrokerOptions{Endpoint: session.ResolveEndpoint(cfg.STSEndpoint, app.getenv), Logger: l})
	var guard *mfacode.OnceGuard
	var devNow func() time.Time
	if dev != nil {
		guard, devNow = mfacode.NewOnceGuard(dev.Now, dev.Wait), dev.Now
	}
	return daemon.New(daemon.Options{
		Config: cfg, Store: st, Broker: broker, Logger: l, Audit: audit, Guard: guard,
		CodeSource:     codeSource(st, l, devNow),
		SuggestMaxAge:  suggestMaxAge,
		Desktop:        daemon.DesktopOptions{SessionID: app.getenv("XDG_SESSION_ID")},
		IAMEndpoint:    firstSet(cfg.IAMEndpoint, app.getenv("AWS_ENDPOINT_URL_IAM"), app.getenv("AWS_ENDPOINT_URL")),
		SigninEndpoint: cfg.SigninEndpoint,
	})
}

// codeSource builds a key profile's MFA code source from its settings:
// prompt sources announce with a desktop notification and, with
// mfa_dialog, ask in a desktop dialog.
func codeSource(st keystore.Store, l *slog.Logger, now func() time.Time) func(ctx context.Context, p *configs.Profile) (mfacode.Source, error) {
	return func(ctx context.Context, p *configs.Profile) (mfacode.Source, error) {
		c := mfacode.Config{Source: p.MFASource, Process: p.MFAProcess, ProcessTimeout: p.MFAProcessTimeout,
			Dialog: p.MFADialog, Notifier: mfacode.NewDesktopNotifier(l), Logger: l, Now: now}
		if p.MFASource == configs.MFASourceTOTP {
			b, err := st.Get(ctx, p.Name, keystore.TOTPItem)
			if err != nil {
				if errors.Is(err, keystore.ErrNotFound) {
					return nil, fmt.Errorf("profile %s has mfa_source: totp but no TOTP secret: run `mfad totp set %s`", p.Name, p.Name)
				}
				return nil, err
			}
			c.TOTPSecret = string(b)
		}
		return mfacode.New(c)
	}
}

// suggestMaxAge reads a profile's policy files for an MFA age window.
func suggestMaxAge(p *configs.Profile) (time.Duration, bool) {
	var docs []*policy.Document
	for _, f := range p.PolicyFiles {
		doc, err := policy.ParseFile(f)
		if err != nil {
			continue
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return 0, false
	}
	return policy.SuggestMaxAge(docs)
}

// openAuditLog opens the audit log for appending: $MFAD_AUDIT_LOG, else
// $XDG_STATE_HOME/mfad/audit.log (~/.local/state/mfad/audit.log). It is
// rotated to audit.log.1 past audit.MaxSize.
func openAuditLog(app *App) (*audit.File, error) {
	return audit.OpenFile(auditPath(app), audit.MaxSize)
}

func auditPath(app *App) string {
	if p := app.getenv("MFAD_AUDIT_LOG"); p != "" {
		return p
	}
	base := app.getenv("XDG_STATE_HOME")
	if base == "" {
		base = filepath.Join(homeDir(app), ".local", "state")
	}
	return filepath.Join(base, "mfad", "audit.log")
}

// instanceLock is the lock file a daemon serving runtime directory dir
// holds, outside it: $XDG_STATE_HOME/mfad/daemon-HASH.lock
// (~/.local/state/mfad), HASH naming the directory.
func instanceLock(app *App, dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	base := app.getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(homeDir(app), ".local", "state")
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(base, "mfad", "daemon-"+hex.EncodeToString(sum[:8])+".lock")
}

// parallelism switches the daemon's process between one P and the runtime's
// default (daemon.RunOptions.Parallelism): one P serves clients that ask one
// at a time at about half the CPU time per request. A GOMAXPROCS set in the
// environment is left alone.
func parallelism(app *App) func(serial bool) {
	if app.getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	return func(serial bool) {
		if serial {
			runtime.GOMAXPROCS(1)
			return
		}
		runtime.SetDefaultGOMAXPROCS()
	}
}
