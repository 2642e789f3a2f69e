// Package keystore keeps mfad's secrets — long-term access keys, cached MFA
// sessions and opt-in TOTP secrets — per profile, in the OS keyring or in an
// encrypted file.
//
// Every backend implements Store. A value is written whole or not at all: a
// failed Set leaves the previous value readable.
package keystore

import (
	"context"
	"errors"
)

// Item names one kind of secret kept for a profile.
type Item string

// The items mfad keeps per profile.
const (
	// AccessKeyItem is the profile's long-term access key pair (JSON of AccessKey).
	AccessKeyItem Item = "access-key"
	// SessionItem is the profile's cached MFA session (JSON owned by package session).
	SessionItem Item = "session"
	// TOTPItem is the profile's opt-in TOTP secret (an otpauth:// URI or base32 secret).
	TOTPItem Item = "totp"
	// RoleSessionItem is a role profile's cached role session (JSON owned by package session).
	RoleSessionItem Item = "role-session"
	// LockedItem marks a role profile locked on its own (`mfad lock`): the
	// daemon does not assume its role until it is unlocked, across
	// restarts.
	LockedItem Item = "locked"
)

// Items lists every item a profile may have, in a fixed order.
func Items() []Item { return []Item{AccessKeyItem, SessionItem, TOTPItem, RoleSessionItem, LockedItem} }

// ErrNotFound reports that a profile has no value for an item. Backends wrap
// it with the profile and item; test for it with errors.Is.
var ErrNotFound = errors.New("not found in keystore")

// Store keeps secrets per profile and item.
type Store interface {
	// Backend names the backend ("os", "file" or "memory") for messages and `mfad list`.
	Backend() string
	// Get returns the value of item for profile, or an error wrapping ErrNotFound.
	Get(ctx context.Context, profile string, item Item) ([]byte, error)
	// Set stores value for profile and item, replacing any previous value atomically.
	Set(ctx context.Context, profile string, item Item, value []byte) error
	// Delete removes item for profile. Deleting an absent item is not an error.
	Delete(ctx context.Context, profile string, item Item) error
	// Profiles lists, sorted, the profiles that have at least one item.
	Profiles(ctx context.Context) ([]string, error)
}

// Backend names, as Store.Backend reports them and Options.Backend accepts them.
const (
	// BackendAuto picks the OS keyring when it answers (Options.Backend only).
	BackendAuto = "auto"
	// BackendOS is the OS keyring: Secret Service, macOS Keychain or Windows Credential Manager.
	BackendOS = "os"
	// BackendFile is the passphrase-encrypted file.
	BackendFile = "file"
	// BackendMemory keeps secrets in memory only, for the sandbox and for tests.
	BackendMemory = "memory"
)

// ErrUnavailable reports that the OS keyring cannot be used right now (no
// Secret Service on the session bus, a locked keychain, ...). Test for it
// with errors.Is.
var ErrUnavailable = errors.New("OS keyring not available")

// ErrWrongPassphrase reports that the file backend could not decrypt its file:
// the passphrase is wrong, or the file was changed after it was written.
var ErrWrongPassphrase = errors.New("wrong passphrase, or the file was changed")

// ErrCorruptFile reports that the file backend's file is damaged (truncated,
// not a keystore file, or with impossible parameters). mfad never overwrites
// such a file.
var ErrCorruptFile = errors.New("keystore file damaged")

// ErrNoPassphrase reports that a passphrase source has no passphrase to give
// (the environment variable is unset, or there is no terminal to ask on).
// PassphraseFirst moves on to the next source when it sees it.
var ErrNoPassphrase = errors.New("no passphrase available")

// ErrInvalidAccessKey reports an access key that AccessKey.Validate rejects.
var ErrInvalidAccessKey = errors.New("invalid access key")
