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
		Short: "Show the audit log: which process fetched which profile's credentials, when, how often",
		Long: `Show the daemon's audit log: which client process (pid, executable, parent, uid) fetched
which profile's credentials, with which token and answer, when it first and last did and
how many times; the calls of credential-process; and the tokens issued and revoked.

The daemon counts requests rather than writing a line for each: a line when a process
first fetches a profile (event "fetch"), then a count of its further requests (event
"fetches": COUNT requests after SINCE, the last at TIME), written a few seconds after it
stops asking and at least once a minute while it goes on. ` + "`mfad audit`" + ` adds them up: one
row per process, profile, token and answer, with its first and last request and the
total. --follow prints each line as the daemon writes it; --json prints the lines as
they are in the log.

Requests without a valid token are counted too. The processes behind them are looked
up for the first 60 connections a minute; beyond that they are counted under pid 0,
with a note.

The log is $MFAD_AUDIT_LOG, else $XDG_STATE_HOME/mfad/audit.log
(~/.local/state/mfad/audit.log). Past 10 MiB the daemon renames it to audit.log.1
(audit.log.1 becoming audit.log.2, the oldest dropped) and starts a new one; all are
shown, oldest first. It never holds a secret: tokens appear by id, as in
` + "`mfad tokens list`" + `.

A pid of 0 means the client could not be found: it had already closed its connection,
or it runs as another user (its uid is then shown).`,
		Example: `  mfad audit
  mfad audit --follow
  mfad audit --json | jq 'select(.status != 200)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := auditPath(app)
			p := &auditPrinter{w: cmd.OutOrStdout(), errw: cmd.ErrOrStderr(), json: asJSON}
			if !follow {
				p.sum = !asJSON
				return showAudit(path, p)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			t := time.NewTicker(auditPoll)
			defer t.Stop()
			return followAudit(ctx, path, p, t.C)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "print each line as the daemon writes it (until Ctrl-C)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON lines")
	return cmd
}

// showAudit prints the rotated log, then the current one.
func showAudit(path string, p *auditPrinter) error {
	found := false
	for _, f := range audit.Files(path) {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		found = true
		p.write(b)
		p.flush()
	}
	if !found {
		return fmt.Errorf("no audit log at %s yet: the daemon writes it while it runs (`mfad daemon`); set MFAD_AUDIT_LOG if it writes elsewhere", path)
	}
	p.printSums()
	return nil
}

// followAudit prints the log, then what is appended to it, checking at each
// tick, until ctx ends. It follows the log across rotations.
func followAudit(ctx context.Context, path string, p *auditPrinter, tick <-chan time.Time) error {
	files := audit.Files(path)
	for _, f := range files[:len(files)-1] {
		if b, err := os.ReadFile(f); err == nil {
			p.write(b)
			p.flush()
		}
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
// a last line that is not complete yet. With sum set, it adds up the
// requests of each process and key, and prints them with printSums.
type auditPrinter struct {
	w, errw io.Writer
	json    bool
	sum     bool
	partial []byte
	header  bool
	rows    []*auditRow
	byKey   map[auditKey]*auditRow
}

// auditRow is one row of the table: a line, or the sum of the lines about
// one process's requests for one key.
type auditRow struct {
	e           audit.Entry
	first, last time.Time
	count       int64
}

// auditKey is what the sums are taken over.
type auditKey struct {
	via, profile, token, reason, exe string
	status, pid, uid                 int
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
	r := &auditRow{e: e, first: e.Time}
	switch e.Event {
	case audit.Fetch:
		r.count = 1
	case audit.Fetches:
		r.first, r.last, r.count = e.Since, e.Time, e.Count
	}
	if !p.sum {
		p.print(r)
		return
	}
	if r.count == 0 {
		p.rows = append(p.rows, r)
		return
	}
	uid := -1
	if e.UID != nil {
		uid = *e.UID
	}
	k := auditKey{via: e.Via, profile: e.Profile, token: e.TokenID, reason: e.Reason, exe: e.Exe, status: e.Status, pid: e.PID, uid: uid}
	s := p.byKey[k]
	if s == nil {
		if p.byKey == nil {
			p.byKey = map[auditKey]*auditRow{}
		}
		s = &auditRow{e: e, first: r.first}
		s.e.Event = audit.Fetch
		p.byKey[k] = s
		p.rows = append(p.rows, s)
	}
	s.count += r.count
	if r.first.Before(s.first) {
		s.first = r.first
	}
	if e.Time.After(s.last) {
		s.last = e.Time
	}
}

// printSums prints the rows that sum was adding up.
func (p *auditPrinter) printSums() {
	for _, r := range p.rows {
		if r.count == 1 && r.last.Equal(r.first) {
			r.last = time.Time{}
		}
		p.print(r)
	}
	p.rows, p.byKey = nil, nil
}

func (p *auditPrinter) print(r *auditRow) {
	e := r.e
	if !p.header {
		p.header = true
		fmt.Fprintf(p.w, "%-19s  %-19s  %7s  %-13s  %-12s  %-16s  %-6s  %-7s  %s\n", "FIRST", "LAST", "COUNT", "EVENT", "PROFILE", "TOKEN", "STATUS", "PID", "EXE")
	}
	status, pid, count := "-", "-", "-"
	if e.Status != 0 {
		status = strconv.Itoa(e.Status)
	}
	if e.PID != 0 {
		pid = strconv.Itoa(e.PID)
	}
	if r.count != 0 {
		count = strconv.FormatInt(r.count, 10)
	}
	exe := dash(e.Exe)
	var detail []string
	if e.PPID != 0 {
		parent := fmt.Sprintf("parent %d", e.PPID)
		if e.ParentExe != "" {
			parent += " " + e.ParentExe
		}
		detail = append(detail, parent)
	}
	if e.Via == audit.ViaCredentialProcess {
		detail = append(detail, "via credential-process")
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
	case e.Count != 0 && e.Event == audit.Refused:
		detail = append(detail, fmt.Sprintf("%d requests", e.Count))
	}
	if e.Reason != "" {
		detail = append(detail, e.Reason)
	}
	if e.Note != "" {
		detail = append(detail, e.Note)
	}
	if e.PID == 0 && e.UID != nil && *e.UID != os.Getuid() {
		detail = append(detail, fmt.Sprintf("from uid %d", *e.UID))
	}
	if len(detail) > 0 {
		exe += "  (" + strings.Join(detail, "; ") + ")"
	}
	fmt.Fprintf(p.w, "%-19s  %-19s  %7s  %-13s  %-12s  %-16s  %-6s  %-7s  %s\n", fmtTime(r.first), fmtTime(r.last), count, e.Event, dash(e.Profile), dash(e.TokenID), status, pid, exe)
}
