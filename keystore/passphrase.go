package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"
)

// PassphraseEnv is the environment variable PassphraseFromEnv reads.
const PassphraseEnv = "MFAD_FILE_PASSPHRASE"

// DefaultFilePath returns where the file backend keeps its file by default:
// $XDG_DATA_HOME/mfad/keystore.enc, or ~/.local/share/mfad/keystore.enc when
// XDG_DATA_HOME is unset or not an absolute path.
func DefaultFilePath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mfad", "keystore.enc"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot place the keystore file: no home directory (%w): set keyring.file in the config or XDG_DATA_HOME", err)
	}
	return filepath.Join(home, ".local", "share", "mfad", "keystore.enc"), nil
}

// PassphraseFromEnv returns a passphrase function that reads
// MFAD_FILE_PASSPHRASE through getenv (os.Getenv, or a stub in tests). When
// the variable is empty it fails with an error wrapping ErrNoPassphrase.
func PassphraseFromEnv(getenv func(string) string) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := getenv(PassphraseEnv)
		if v == "" {
			return nil, fmt.Errorf("%s is not set: set it to the keystore file's passphrase, or run mfad from a terminal to be asked for it: %w",
				PassphraseEnv, ErrNoPassphrase)
		}
		return []byte(v), nil
	}
}

// PassphrasePrompt returns a passphrase function that asks on the terminal
// in, with hidden input, writing prompts to out. For a new file (see
// PassphraseRequestFrom) it asks twice and fails unless both answers match.
// When in is not a terminal it fails with an error wrapping ErrNoPassphrase.
//
// If ctx ends while it waits for input, it returns ctx.Err() at once; the
// terminal read itself goes on until a line is entered.
func PassphrasePrompt(in *os.File, out io.Writer) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fd := int(in.Fd())
		if !term.IsTerminal(fd) {
			return nil, fmt.Errorf("cannot ask for the keystore passphrase: %s is not a terminal; set %s instead: %w",
				in.Name(), PassphraseEnv, ErrNoPassphrase)
		}
		req, _ := PassphraseRequestFrom(ctx)
		what := "the keystore file"
		if req.File != "" {
			what = "keystore file " + req.File
		}
		if !req.Create {
			return readHidden(ctx, fd, out, fmt.Sprintf("Passphrase for %s: ", what))
		}
		first, err := readHidden(ctx, fd, out, fmt.Sprintf("New passphrase for %s (at least %d characters): ", what, MinNewPassphraseLen))
		if err != nil {
			return nil, err
		}
		second, err := readHidden(ctx, fd, out, "Repeat the passphrase: ")
		if err != nil {
			clear(first)
			return nil, err
		}
		defer clear(second)
		if !bytes.Equal(first, second) {
			clear(first)
			return nil, errors.New("the two passphrases differ: run the command again and type the same passphrase twice")
		}
		return first, nil
	}
}

// readHidden prints prompt and reads a line from the terminal fd without
// echo.
func readHidden(ctx context.Context, fd int, out io.Writer, prompt string) ([]byte, error) {
	if _, err := io.WriteString(out, prompt); err != nil {
		return nil, fmt.Errorf("cannot write the passphrase prompt: %w", err)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		_, _ = io.WriteString(out, "\n")
		if r.err != nil {
			return nil, fmt.Errorf("cannot read the passphrase from the terminal: %w", r.err)
		}
		return r.b, nil
	case <-ctx.Done():
		_, _ = io.WriteString(out, "\n")
		go func() { clear((<-done).b) }()
		return nil, ctx.Err()
	}
}

// PassphraseFirst returns a passphrase function that tries sources in turn
// and uses the first that has a passphrase: a source failing with
// ErrNoPassphrase passes to the next one; any other error stops the search.
// A typical chain is the environment, then the terminal.
func PassphraseFirst(sources ...func(ctx context.Context) ([]byte, error)) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		var errs []error
		for _, src := range sources {
			p, err := src(ctx)
			if err == nil {
				return p, nil
			}
			if !errors.Is(err, ErrNoPassphrase) {
				return nil, err
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return nil, fmt.Errorf("no passphrase source configured: %w", ErrNoPassphrase)
		}
		return nil, errors.Join(errs...)
	}
}
