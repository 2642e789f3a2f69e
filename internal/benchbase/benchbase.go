// Package benchbase is the baseline mfad's endpoint is measured against: a
// plain net/http handler that checks a token in constant time and writes
// prepared bytes with the endpoint's headers.
package benchbase

import (
	"crypto/subtle"
	"net/http"
)

// Bare answers every request with its body when it carries its token in
// Authorization, and 403 otherwise. Like the endpoint, it allocates nothing
// of its own per request.
type Bare struct {
	token                         string
	body                          []byte
	contentType, noStore, noSniff []string
}

// NewBare returns the baseline handler for token and body.
func NewBare(token string, body []byte) *Bare {
	return &Bare{token: token, body: body,
		contentType: []string{"application/json"}, noStore: []string{"no-store"}, noSniff: []string{"nosniff"}}
}

// ServeHTTP implements http.Handler.
func (b *Bare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = b.contentType
	h["Cache-Control"] = b.noStore
	h["X-Content-Type-Options"] = b.noSniff
	got := r.Header.Get("Authorization")
	if subtle.ConstantTimeCompare([]byte(got), []byte(b.token)) != 1 {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Write(b.body)
}
