package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// newBareToken returns a random token shaped like the endpoint's:
// "mfad." + 16 hex digits + "." + 43 base64url characters.
func newBareToken() (string, error) {
	var id [8]byte
	var sec [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("make the baseline's token: %w", err)
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", fmt.Errorf("make the baseline's token: %w", err)
	}
	return "mfad." + hex.EncodeToString(id[:]) + "." + base64.RawURLEncoding.EncodeToString(sec[:]), nil
}
