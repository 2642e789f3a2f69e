package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
)

// bareHandler is the baseline the endpoint is measured against: a plain
// net/http handler that checks a token in constant time and writes prepared
// bytes with the endpoint's headers.
type bareHandler struct {
	token string
	body  []byte
}

var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	nosniff  = []string{"nosniff"}
)

// ServeHTTP answers every request with the prepared body when it carries
// the token.
func (b *bareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
	if !equalConstantTime(r.Header.Get("Authorization"), b.token) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Write(b.body)
}

// equalConstantTime compares two strings in time that depends only on
// their lengths.
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

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
