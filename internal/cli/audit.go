package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/internal/audit"
)

// auditPoll is how often `mfad audit --follow` looks for new lines.
const auditPoll = 250 * time.Millisecond

func newAuditCmd(app *App) *cobra.Command {
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [--follow] [--json]",
		Short: "Show the audit log: every credentials request, with the client's pid and executable",
		Long: `Show the daemon's audit log: one line per credentials request on the endpoint (with the
answer's status, the token used, and the client's pid and executable, found from its
connection), per credential-process call, and per token issued or revoked. Requests
without a valid token are recorded too, up to 60 a minute, then counted.

The log is $MFAD_AUDIT_LOG, else $XDG_STATE_HOME/mfad/audit.log
(~/.local/state/mfad/audit.log). Past 10 MiB the daemon renames it to audit.log.1 and
starts a new one; both are shown, oldest first. It never holds a secret: tokens appear
by id, as in ` + "`mfad tokens list`" + `.

A pid of 0 means the client could not be found: it had already closed its connection,
or it runs as another user (its uid is then shown in --json output).`,
		Example: `  mfad audit
  mfad audit --follow
  mfad audit --json | jq 'select(.status != 200)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := auditPath(app)
			p := &auditPrinter{w: cmd.OutOrStdout(), errw: cmd.ErrOrStderr(), json: asJSON}
			if !follow {
				return showAudit(path, p)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			t := time.NewTicker(auditPoll)
			defer t.Stop()
			return followAudit(ctx, path, p, t.C)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing lines as the daemon writes them (until Ctrl-C)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON lines")
	return cmd
}

// showAudit prints the rotated log, then the current one.
func showAudit(path string, p *auditPrinter) error {
	found := false
	for _, f := range []string{path + ".1", path} {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		found = true
		p.write(b)
	}
	if !found {
		return fmt.Errorf("no audit log at %s yet: the daemon writes it while it runs (`mfad daemon`); set MFAD_AUDIT_LOG if it writes elsewhere", path)
	}
	p.flush()
	return nil
}

// followAudit prints the log, then what is appended to it, checking at each
// tick, until ctx ends. It follows the log across rotations.
func followAudit(ctx context.Context, path string, p *auditPrinter, tick <-chan time.Time) error {
	if b, err := os.ReadFile(path + ".1"); err == nil {
		p.write(b)
		p.flush()
	}
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	drain := func() error {
		if f == nil {
			return nil
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		p.write(b)
		return nil
	}
	for {
		if err := drain(); err != nil {
			return err
		}
		switch fi, err := os.Stat(path); {
		case err != nil:
			// Not written yet, or between a rotation's rename and create.
		case f == nil:
			if f, err = os.Open(path); err != nil {
				return fmt.Errorf("open the audit log: %w", err)
			}
			continue
		default:
			cur, serr := f.Stat()
			pos, perr := f.Seek(0, io.SeekCurrent)
			switch {
			case serr != nil || perr != nil || !os.SameFile(fi, cur):
				// Rotated: finish the old file, then start on the new one.
				if err := drain(); err != nil {
					return err
				}
				p.flush()
				f.Close()
				f = nil
				continue
			case fi.Size() < pos:
				// Truncated: start again from its beginning.
				p.flush()
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return fmt.Errorf("read the audit log: %w", err)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			p.flush()
			return nil
		case <-tick:
		}
	}
}

// auditPrinter prints audit log lines as a table or as JSON, holding back
// a last line that is not complete yet.
type auditPrinter struct {
	w, errw io.Writer
	json    bool
	partial []byte
	header  bool
}

// write prints every complete line of b (after what was held back).
func (p *auditPrinter) write(b []byte) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return
		}
		p.line(p.partial[:i])
		p.partial = p.partial[i+1:]
	}
}

// flush prints a held-back last line (a file that does not end in a newline).
func (p *auditPrinter) flush() {
	if len(p.partial) > 0 {
		p.line(p.partial)
		p.partial = nil
	}
}

func (p *auditPrinter) line(l []byte) {
	l = bytes.TrimSpace(l)
	if len(l) == 0 {
		return
	}
	if p.json {
		p.w.Write(append(l, '\n'))
		return
	}
	var e audit.Entry
	if err := json.Unmarshal(l, &e); err != nil {
		fmt.Fprintf(p.errw, "mfad audit: skipping a line that is not an audit entry: %v\n", err)
		return
	}
	if !p.header {
		p.header = true
		fmt.Fprintf(p.w, "%-19s  %-13s  %-12s  %-16s  %-6s  %-7s  %s\n", "TIME", "EVENT", "PROFILE", "TOKEN", "STATUS", "PID", "EXE")
	}
	status, pid := "-", "-"
	if e.Status != 0 {
		status = strconv.Itoa(e.Status)
	}
	if e.PID != 0 {
		pid = strconv.Itoa(e.PID)
	}
	exe := dash(e.Exe)
	var detail []string
	if e.Via == "credential-process" {
		via := "via credential-process"
		if e.ParentExe != "" {
			via += fmt.Sprintf(", for %s (pid %d)", e.ParentExe, e.PPID)
		}
		detail = append(detail, via)
	}
	if e.TokenKind != "" {
		detail = append(detail, e.TokenKind+" token")
	}
	if e.Label != "" && e.Label != e.TokenKind {
		detail = append(detail, strconv.Quote(e.Label))
	}
	switch {
	case e.Count != 0 && e.Event == audit.Dropped:
		detail = append(detail, fmt.Sprintf("%d entries lost", e.Count))
	case e.Count != 0:
		detail = append(detail, fmt.Sprintf("%d requests", e.Count))
	}
	if e.Reason != "" {
		detail = append(detail, e.Reason)
	}
	if e.PID == 0 && e.UID != nil && *e.UID != os.Getuid() {
		detail = append(detail, fmt.Sprintf("from uid %d", *e.UID))
	}
	if len(detail) > 0 {
		exe += "  (" + strings.Join(detail, "; ") + ")"
	}
	fmt.Fprintf(p.w, "%-19s  %-13s  %-12s  %-16s  %-6s  %-7s  %s\n", fmtTime(e.Time), e.Event, dash(e.Profile), dash(e.TokenID), status, pid, exe)
}
