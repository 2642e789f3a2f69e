package daemon

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Token kinds.
const (
	// TokenDaemon is the daemon-wide token published in the runtime directory.
	TokenDaemon = "daemon"
	// TokenEnv is a token handed out by `mfad env`.
	TokenEnv = "env"
	// TokenExec is a token handed to one `mfad exec` child, revoked when it exits.
	TokenExec = "exec"
)

// Token is an endpoint credential. Secret is only set when it is issued.
type Token struct {
	// ID names the token in listings and the audit log; it is not secret.
	ID string `json:"id"`
	// Kind is TokenDaemon, TokenEnv or TokenExec.
	Kind string `json:"kind"`
	// Profile limits the token to one profile ("" = every profile).
	Profile string `json:"profile,omitempty"`
	// Label says who asked for it (for example the command of `mfad exec`).
	Label string `json:"label,omitempty"`
	// Created is when it was issued.
	Created time.Time `json:"created"`
	// File is the token file path (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
	File string `json:"file,omitempty"`
	// PID is the process the token was issued to (the `mfad exec` or the
	// shell of `mfad env`), when known.
	PID int `json:"pid,omitempty"`
	// WatchPID is the process whose exit revokes the token (the shell of
	// `mfad env`); 0 = none.
	WatchPID int `json:"watch_pid,omitempty"`
	// Value is the whole token as clients send it; only set when issued.
	Value string `json:"-"`
}

// Token layout: "mfad." + 16 hex id + "." + 43 base64url secret (256 bits).
const (
	tokenPrefix    = "mfad."
	tokenIDLen     = 16
	tokenSecretLen = 43
	tokenLen       = len(tokenPrefix) + tokenIDLen + 1 + tokenSecretLen
)

type tokenEntry struct {
	Token
	secret string
}

// tokenRegistry maps token ids to tokens. Reads are lock-free (a
// copy-on-write map) because every credentials request checks a token.
type tokenRegistry struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]*tokenEntry]
}

func newTokenRegistry() *tokenRegistry {
	r := &tokenRegistry{}
	m := map[string]*tokenEntry{}
	r.m.Store(&m)
	return r
}

// issue makes and registers a new token.
func (r *tokenRegistry) issue(kind, profile, label string, now time.Time) (Token, error) {
	var id [tokenIDLen / 2]byte
	var sec [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, fmt.Errorf("make token: %w", err)
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return Token{}, fmt.Errorf("make token: %w", err)
	}
	e := &tokenEntry{Token: Token{ID: hex.EncodeToString(id[:]), Kind: kind, Profile: profile, Label: label, Created: now},
		secret: base64.RawURLEncoding.EncodeToString(sec[:])}
	e.Value = tokenPrefix + e.ID + "." + e.secret
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	m := make(map[string]*tokenEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.ID] = e
	r.m.Store(&m)
	return e.Token, nil
}

// restore registers a token read back from its file after a restart. It
// reports false when value is not a well-formed token with t's id.
func (r *tokenRegistry) restore(t Token, value string) bool {
	if len(value) != tokenLen || value[:len(tokenPrefix)] != tokenPrefix || value[len(tokenPrefix)+tokenIDLen] != '.' ||
		value[len(tokenPrefix):len(tokenPrefix)+tokenIDLen] != t.ID {
		return false
	}
	e := &tokenEntry{Token: t, secret: value[len(tokenPrefix)+tokenIDLen+1:]}
	e.Value = value
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	m := make(map[string]*tokenEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[t.ID] = e
	r.m.Store(&m)
	return true
}

// setWatch records the holder process of id.
func (r *tokenRegistry) setWatch(id string, pid int) {
	r.update(id, func(t *Token) { t.WatchPID = pid })
}

// setFile records the token file of id.
func (r *tokenRegistry) setFile(id, file string) {
	r.update(id, func(t *Token) { t.File = file })
}

// update changes id's entry. Readers hold entries without the lock, so the
// entry is replaced by a changed copy, never written in place.
func (r *tokenRegistry) update(id string, change func(*Token)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	e, ok := old[id]
	if !ok {
		return
	}
	c := *e
	change(&c.Token)
	m := make(map[string]*tokenEntry, len(old))
	for k, v := range old {
		m[k] = v
	}
	m[id] = &c
	r.m.Store(&m)
}

// revoke removes a token; it reports whether it existed.
func (r *tokenRegistry) revoke(id string) (Token, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	e, ok := old[id]
	if !ok {
		return Token{}, false
	}
	m := make(map[string]*tokenEntry, len(old))
	for k, v := range old {
		if k != id {
			m[k] = v
		}
	}
	r.m.Store(&m)
	return e.Token, true
}

// list returns the registered tokens without their values.
func (r *tokenRegistry) list() []Token {
	m := *r.m.Load()
	out := make([]Token, 0, len(m))
	for _, e := range m {
		t := e.Token
		t.Value = ""
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.Before(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out
}

// values returns the registered tokens with their values, for writing
// their files again.
func (r *tokenRegistry) values() []Token {
	m := *r.m.Load()
	out := make([]Token, 0, len(m))
	for _, e := range m {
		t := e.Token
		t.Value = tokenPrefix + t.ID + "." + e.secret
		out = append(out, t)
	}
	return out
}

// check returns the token entry value presents, or nil. It allocates nothing
// and compares the secret in constant time.
func (r *tokenRegistry) check(value string) *tokenEntry {
	if len(value) != tokenLen || value[:len(tokenPrefix)] != tokenPrefix || value[len(tokenPrefix)+tokenIDLen] != '.' {
		return nil
	}
	id := value[len(tokenPrefix) : len(tokenPrefix)+tokenIDLen]
	e := (*r.m.Load())[id]
	if e == nil {
		return nil
	}
	got := value[len(tokenPrefix)+tokenIDLen+1:]
	if subtle.ConstantTimeCompare([]byte(got), []byte(e.secret)) != 1 {
		return nil
	}
	return e
}
