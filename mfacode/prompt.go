package mfacode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultDialogTimeout is how long a Prompt's dialog stays open unanswered.
const DefaultDialogTimeout = 5 * time.Minute

// ErrDialogCancelled reports that the person closed the dialog without
// entering a code.
var ErrDialogCancelled = errors.New("dialog cancelled")

// Notifier announces to the person at the desktop that something needs them.
type Notifier interface {
	// Notify shows title and body. The body never contains a code.
	Notify(ctx context.Context, title, body string) error
}

// Dialog asks the person at the desktop for a secret answer.
type Dialog interface {
	// Ask shows text and returns what the person typed; it returns an error
	// wrapping ErrDialogCancelled if they cancelled.
	Ask(ctx context.Context, title, text string) (string, error)
}

// PromptOptions configures a Prompt.
type PromptOptions struct {
	// Notifier announces that a code is needed (nil: announce only in the log).
	Notifier Notifier
	// Dialog, when set, asks for the code on the desktop.
	Dialog Dialog
	// DialogTimeout closes an unanswered dialog (default DefaultDialogTimeout).
	DialogTimeout time.Duration
	// Logger receives debug and warning messages (default: discarded).
	Logger *slog.Logger
}

// Prompt is the "prompt" source: a person supplies the code. Code announces
// the need through the Notifier and, when a Dialog is configured, asks
// through it; otherwise it returns ErrNeedsHuman and the daemon waits for
// `mfad unlock`.
type Prompt struct {
	notifier      Notifier
	dialog        Dialog
	dialogTimeout time.Duration
	log           *slog.Logger
}

// NewPrompt returns a prompt source.
func NewPrompt(opts PromptOptions) *Prompt {
	if opts.DialogTimeout <= 0 {
		opts.DialogTimeout = DefaultDialogTimeout
	}
	return &Prompt{notifier: opts.Notifier, dialog: opts.Dialog, dialogTimeout: opts.DialogTimeout, log: orDiscard(opts.Logger)}
}

// Name returns "prompt".
func (p *Prompt) Name() string { return SourcePrompt }

// Code announces that profile req.Profile needs a code, then asks for it
// through the dialog, if any. Without a dialog, or when the person does not
// answer it, the error wraps ErrNeedsHuman.
func (p *Prompt) Code(ctx context.Context, req Request) (string, error) {
	body := fmt.Sprintf("Profile %s needs a new MFA code — run `mfad unlock %s`", req.Profile, req.Profile)
	if p.dialog != nil {
		body = fmt.Sprintf("Profile %s needs a new MFA code — enter it in the dialog or run `mfad unlock %s`", req.Profile, req.Profile)
	}
	if req.Reason != "" {
		body += "\n" + req.Reason
	}
	p.log.InfoContext(ctx, "MFA code needed", "profile", req.Profile, "reason", req.Reason)
	if p.notifier != nil {
		if err := p.notifier.Notify(ctx, "mfad", body); err != nil {
			p.log.WarnContext(ctx, "could not show a desktop notification", "profile", req.Profile, "err", err)
		}
	}
	if p.dialog == nil {
		return "", ErrNeedsHuman
	}

	dctx, cancel := context.WithTimeout(ctx, p.dialogTimeout)
	defer cancel()
	text := fmt.Sprintf("MFA code for profile %s", req.Profile)
	if req.MFASerial != "" {
		text += " (" + req.MFASerial + ")"
	}
	if req.Reason != "" {
		text += "\n" + req.Reason
	}
	answer, err := p.dialog.Ask(dctx, "mfad", text)
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("asking for the MFA code of profile %s: %w", req.Profile, ctx.Err())
	case errors.Is(dctx.Err(), context.DeadlineExceeded):
		return "", fmt.Errorf("nobody answered the MFA code dialog for profile %s within %s: %w; %w", req.Profile, p.dialogTimeout, dctx.Err(), ErrNeedsHuman)
	case errors.Is(err, ErrDialogCancelled):
		return "", fmt.Errorf("profile %s: %w; %w", req.Profile, err, ErrNeedsHuman)
	case err != nil:
		return "", fmt.Errorf("profile %s: could not ask for the MFA code: %w; %w", req.Profile, err, ErrNeedsHuman)
	}
	code := strings.Join(strings.Fields(answer), "")
	if !isCode(code) {
		return "", fmt.Errorf("profile %s: the MFA code entered is not 6 digits; %w", req.Profile, ErrNeedsHuman)
	}
	return code, nil
}
