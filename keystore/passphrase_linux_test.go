package keystore

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/testpty"
)

func openPTY(t *testing.T) (controller, terminal *os.File) { return testpty.Open(t) }

func TestPassphrasePromptOnTerminal(t *testing.T) {
	withRequest := func(create bool) context.Context {
		return context.WithValue(testContext(t), passphraseRequestKey{}, PassphraseRequest{File: "/x/keystore.enc", Create: create})
	}

	t.Run("Existing", func(t *testing.T) {
		controller, terminal := openPTY(t)
		var out strings.Builder
		if _, err := controller.WriteString("my passphrase\n"); err != nil {
			t.Fatal(err)
		}
		got, err := PassphrasePrompt(terminal, &out)(withRequest(false))
		if err != nil || string(got) != "my passphrase" {
			t.Fatalf("PassphrasePrompt = %q, %v", got, err)
		}
		if !strings.Contains(out.String(), "Passphrase for keystore file /x/keystore.enc: ") || strings.Contains(out.String(), "Repeat") {
			t.Fatalf("prompts = %q; want one prompt naming the file", out.String())
		}
	})

	t.Run("NewAsksTwice", func(t *testing.T) {
		controller, terminal := openPTY(t)
		var out strings.Builder
		if _, err := controller.WriteString("new passphrase\nnew passphrase\n"); err != nil {
			t.Fatal(err)
		}
		got, err := PassphrasePrompt(terminal, &out)(withRequest(true))
		if err != nil || string(got) != "new passphrase" {
			t.Fatalf("PassphrasePrompt = %q, %v", got, err)
		}
		if !strings.Contains(out.String(), "New passphrase for keystore file /x/keystore.enc") || !strings.Contains(out.String(), "Repeat the passphrase") {
			t.Fatalf("prompts = %q; want two", out.String())
		}
	})

	t.Run("NewMismatch", func(t *testing.T) {
		controller, terminal := openPTY(t)
		var out strings.Builder
		if _, err := controller.WriteString("first passphrase\nsecond passphrase\n"); err != nil {
			t.Fatal(err)
		}
		_, err := PassphrasePrompt(terminal, &out)(withRequest(true))
		if err == nil || !strings.Contains(err.Error(), "differ") || strings.Contains(err.Error(), "passphrase\n") {
			t.Fatalf("PassphrasePrompt with different answers: err = %v", err)
		}
		if strings.Contains(err.Error(), "first passphrase") || strings.Contains(err.Error(), "second passphrase") {
			t.Fatalf("error %q shows a passphrase", err)
		}
	})

	t.Run("ContextEnds", func(t *testing.T) {
		controller, terminal := openPTY(t)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := PassphrasePrompt(terminal, &strings.Builder{})(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("PassphrasePrompt with no input: err = %v after %v", err, time.Since(start))
		}
		_, _ = controller.WriteString("\n") // let the abandoned read finish
	})

	t.Run("WithFileBackend", func(t *testing.T) {
		controller, terminal := openPTY(t)
		ctx := testContext(t)
		path := t.TempDir() + "/keystore.enc"
		var out strings.Builder
		s, err := OpenFile(ctx, path, PassphrasePrompt(terminal, &out), WithKDFParams(cheapKDF))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := controller.WriteString("typed passphrase\ntyped passphrase\n"); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "p", SessionItem, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "New passphrase for keystore file "+path) {
			t.Fatalf("prompts = %q", out.String())
		}
		if _, err := OpenFile(ctx, path, staticPassphrase("typed passphrase")); err != nil {
			t.Fatalf("reopening with the typed passphrase: %v", err)
		}
	})
}
