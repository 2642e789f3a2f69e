package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestUnlockAsksTheDaemonsPassphraseOnTheTerminal: a daemon with no
// terminal waits for its keystore passphrase; `mfad unlock` on a terminal
// asks for it with hidden input, then for the code.
func TestUnlockAsksTheDaemonsPassphraseOnTheTerminal(t *testing.T) {
	w := newWorldBackend(t, "file")
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	w.env = without(w.env, "MFAD_FILE_PASSPHRASE")
	w.startDaemon()
	if out := w.must(nil, "status"); !strings.Contains(out, "waits for its passphrase") {
		t.Fatalf("status: %q", out)
	}
	s := w.onTerminal("unlock", "work")
	s.expect("waits for the passphrase of its keystore file")
	s.expect("Passphrase for the keystore file: ")
	s.hiddenInput()
	s.in("e2e passphrase")
	s.expect("MFA code for work")
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code, "e2e passphrase")
	s.in(code)
	if err := s.wait(); err != nil {
		t.Fatalf("unlock on a terminal: %v\n%s", err, s.screen())
	}
	screen := s.screen()
	if !strings.Contains(screen, "Opened the keystore file") || !strings.Contains(screen, "Unlocked work") || strings.Contains(screen, "e2e passphrase") {
		t.Fatalf("the terminal shows %q", screen)
	}
	if out := w.must(nil, "credential-process", "--profile", "work"); !strings.Contains(out, `"Version":1`) {
		t.Fatalf("credential-process after unlock: %q", out)
	}
}
