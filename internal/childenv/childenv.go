// Package childenv builds the environment of the programs mfad starts:
// `mfad exec` commands, mfa_process, desktop dialogs and service managers.
// None of them may see a secret mfad reads from its own environment.
package childenv

import (
	"os"
	"runtime"
	"strings"
)

// secrets are the environment variables mfad reads secrets from. They are
// removed from the environment of every program mfad starts.
var secrets = [...]string{
	// The keystore file's passphrase (keystore.PassphraseEnv).
	"MFAD_FILE_PASSPHRASE",
}

// IsSecret reports whether the environment variable name holds a secret
// of mfad's.
func IsSecret(name string) bool {
	for _, s := range secrets {
		// Windows environment variable names ignore case.
		if name == s || runtime.GOOS == "windows" && strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// Scrub returns env ("KEY=value" entries) without mfad's secrets. It
// returns a new slice and leaves env unchanged.
func Scrub(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !IsSecret(k) {
			out = append(out, kv)
		}
	}
	return out
}

// Environ is os.Environ without mfad's secrets.
func Environ() []string { return Scrub(os.Environ()) }
