// Package mfacode is where mfad's MFA codes come from: a command that prints
// one (a YubiKey through ykman, or any user script), a TOTP secret kept in the
// keystore, or a person, told through a desktop notification and optionally
// asked through a dialog.
//
// Codes and TOTP secrets never appear in errors, log lines or the argument
// lists of programs mfad runs. A code is used at most once: OnceGuard makes
// every source wait for the next TOTP step before producing another code for
// the same MFA device, as AWS accepts each code only once.
package mfacode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Names of the sources, as written in mfa_source.
const (
	SourcePrompt  = "prompt"
	SourceProcess = "process"
	SourceTOTP    = "totp"
)

// DefaultProcessTimeout bounds mfa_process when no timeout is configured.
const DefaultProcessTimeout = 30 * time.Second

// ErrNeedsHuman reports that a person must supply the code: the source has
// announced it and the daemon should wait for `mfad unlock`. Sources may wrap
// it; test for it with errors.Is.
var ErrNeedsHuman = errors.New("a person must enter this code with `mfad unlock`")

// Source produces a 6-digit MFA code for a profile without a human at the
// terminal, or announces that one is needed.
type Source interface {
	// Name is "prompt", "process" or "totp".
	Name() string
	// Code returns a fresh code. Sources that need a human (prompt) return
	// ErrNeedsHuman after announcing.
	Code(ctx context.Context, req Request) (string, error)
}

// Request says which code is wanted and why.
type Request struct {
	// Profile is the profile whose session needs the code.
	Profile string
	// MFASerial is the MFA device: a virtual device ARN or a hardware serial.
	MFASerial string
	// Reason tells a person why the code is wanted, e.g.
	// "MFA window of profile work closes at 15:04".
	Reason string
}

// Config selects and configures a source for New.
type Config struct {
	// Source is "prompt" (the default when empty), "process" or "totp".
	Source string
	// Process is the mfa_process command (source process).
	Process string
	// ProcessTimeout bounds the command (default 30s).
	ProcessTimeout time.Duration
	// TOTPSecret is a base32 secret or an otpauth://totp/ URI (source totp).
	TOTPSecret string
	// Dialog asks for the code on the desktop (source prompt): "" for none,
	// or "auto", "zenity", "kdialog" or "osascript".
	Dialog string
	// Notifier announces that a code is needed (source prompt) or that
	// mfa_process waits for a touch (source process); nil means a
	// DesktopNotifier.
	Notifier Notifier
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives debug and warning messages (default: discarded).
	Logger *slog.Logger
}

// New returns the source cfg names. The daemon should wrap it with a shared
// OnceGuard so that no code is produced twice.
func New(cfg Config) (Source, error) {
	logger := orDiscard(cfg.Logger)
	var dialog Dialog
	if cfg.Dialog != "" {
		d, err := NewDesktopDialog(cfg.Dialog, logger)
		if err != nil {
			return nil, err
		}
		dialog = d
	}
	switch strings.ToLower(strings.TrimSpace(cfg.Source)) {
	case "", SourcePrompt:
		notifier := cfg.Notifier
		if notifier == nil {
			notifier = NewDesktopNotifier(logger)
		}
		return NewPrompt(PromptOptions{Notifier: notifier, Dialog: dialog, Logger: logger}), nil
	case SourceProcess:
		if strings.TrimSpace(cfg.Process) == "" {
			return nil, errors.New("mfa_source: process needs mfa_process, e.g. `ykman oath accounts code --single NAME`")
		}
		notifier := cfg.Notifier
		if notifier == nil {
			notifier = NewDesktopNotifier(logger)
		}
		return NewProcess(cfg.Process, cfg.ProcessTimeout, ProcessOptions{Logger: logger, Notifier: notifier})
	case SourceTOTP:
		if strings.TrimSpace(cfg.TOTPSecret) == "" {
			return nil, errors.New("mfa_source: totp needs a TOTP secret: run `mfad totp set PROFILE`")
		}
		src, err := NewTOTP(cfg.TOTPSecret, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("mfa_source totp: %w; store it again with `mfad totp set PROFILE`", err)
		}
		return src, nil
	default:
		return nil, fmt.Errorf("mfa_source %q is unknown: use %s, %s or %s", cfg.Source, SourcePrompt, SourceProcess, SourceTOTP)
	}
}

// isCode reports whether s is exactly six ASCII digits.
func isCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scrub removes digit runs that could be codes from program output and cuts
// it to max bytes, on a character boundary, for use in an error message.
func scrub(b []byte, max int) string {
	s := strings.TrimSpace(maskSecretLike(maskDigitRuns(string(b))))
	s = strings.ToValidUTF8(s, "?")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// maskDigitRuns replaces every run of six or more ASCII digits with stars.
func maskDigitRuns(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		switch {
		case j-i >= 6:
			out.WriteString("******")
			i = j
		case j > i:
			out.WriteString(s[i:j])
			i = j
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	return out.String()
}

// maskSecretLike replaces words that look like base32 TOTP secrets (16 or
// more letters and digits 2-7, with at least one of each) with "[redacted]".
func maskSecretLike(s string) string {
	isB32 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '2' && c <= '7'
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		if !isB32(s[i]) {
			out.WriteByte(s[i])
			i++
			continue
		}
		j := i
		digits, letters := 0, 0
		for j < len(s) && isB32(s[j]) {
			if s[j] <= '7' {
				digits++
			} else {
				letters++
			}
			j++
		}
		if j-i >= 16 && digits > 0 && letters > 0 {
			out.WriteString("[redacted]")
		} else {
			out.WriteString(s[i:j])
		}
		i = j
	}
	return out.String()
}

// msgError is an error whose message is fixed by mfad (so it can never echo
// a code) while still unwrapping to its cause.
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

// limitedBuffer keeps the first max bytes written to it and discards the
// rest without failing the writer.
type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Sleep waits for d or until ctx is done, whichever comes first. It is the
// production wait for OnceGuard.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
