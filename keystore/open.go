package keystore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultProbeTimeout bounds how long Open waits for the OS keyring to
// answer its probe (which may show an unlock prompt) when
// Options.ProbeTimeout is zero.
const DefaultProbeTimeout = time.Minute

// Options chooses and configures a backend for Open.
type Options struct {
	// Backend is "auto" (or ""), "os" or "file".
	Backend string
	// File is the file backend's path ("" = DefaultFilePath()).
	File string
	// Passphrase gives the file backend's passphrase, for example
	// PassphraseFirst(PassphraseFromEnv(os.Getenv), PassphrasePrompt(os.Stdin, os.Stderr)).
	Passphrase func(ctx context.Context) ([]byte, error)
	// Service is the OS keyring service name ("" = "mfad").
	Service string
	// ProbeTimeout bounds the OS keyring probe (0 = DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// FileOptions are passed to OpenFile.
	FileOptions []FileOption
	// OSOptions are passed to NewOS, after the one Service sets.
	OSOptions []OSOption
	// Logger hears why "auto" fell back to the file backend (nil = discard).
	Logger *slog.Logger
}

// Open returns the Store opts choose. "os" checks first that the OS keyring
// answers; "auto" uses the OS keyring when it answers and otherwise the
// encrypted file (when opts.Passphrase is set; else it fails with an error
// that explains how to choose the file backend); "file" opens the encrypted
// file.
func Open(ctx context.Context, opts Options) (Store, error) {
	switch opts.Backend {
	case BackendOS, BackendAuto, "":
		s := newOS(append([]OSOption{WithService(opts.Service)}, opts.OSOptions...)...)
		return openOS(ctx, s, opts)
	case BackendFile:
		if opts.Passphrase == nil {
			return nil, errors.New("keystore: the file backend needs Options.Passphrase")
		}
		return OpenFile(ctx, opts.File, opts.Passphrase, opts.FileOptions...)
	default:
		return nil, fmt.Errorf("unknown keyring backend %q: set keyring.backend (or MFAD_KEYRING_BACKEND) to one of %s, %s, %s",
			opts.Backend, BackendAuto, BackendOS, BackendFile)
	}
}

// openOS probes s and returns it when the OS keyring answers.
func openOS(ctx context.Context, s *osStore, opts Options) (Store, error) {
	timeout := opts.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.probe(pctx)
	if err == nil {
		return s, nil
	}
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about the keyring.
		return nil, err
	}
	if opts.Backend == BackendOS {
		return nil, err
	}
	if opts.Passphrase != nil {
		l := opts.Logger
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		fs, ferr := OpenFile(ctx, opts.File, opts.Passphrase, opts.FileOptions...)
		if ferr != nil {
			return nil, fmt.Errorf("no OS keyring answers (%w), and the encrypted file fallback failed: %w", err, ferr)
		}
		l.Info("no OS keyring answers: keeping secrets in the encrypted file (set keyring.backend: os or file to choose)", "reason", err)
		return fs, nil
	}
	return nil, fmt.Errorf("no keyring backend is usable: %w; to keep secrets in an encrypted file instead, set keyring.backend: file in the config or MFAD_KEYRING_BACKEND=file, and MFAD_FILE_PASSPHRASE or a terminal for the passphrase",
		err)
}
