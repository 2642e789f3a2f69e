package keystore

import (
	"errors"
	"fmt"
	"strings"
)

// MaxProfileNameLen is the longest profile name the keystore accepts.
const MaxProfileNameLen = 64

// ValidateProfileName reports whether name can name a profile in the
// keystore: 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-', not
// starting with a dot or a dash.
func ValidateProfileName(name string) error {
	const allowed = "use 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'"
	switch {
	case name == "":
		return errors.New("profile name is empty: " + allowed)
	case len(name) > MaxProfileNameLen:
		return fmt.Errorf("profile name is %d characters long: %s", len(name), allowed)
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("profile name %q starts with %q: start it with a letter, a digit or '_'", name, name[0])
	}
	for i := 0; i < len(name); i++ {
		if !profileNameByte(name[i]) {
			return fmt.Errorf("profile name %q has a character that is not allowed at position %d: %s",
				name, i+1, allowed)
		}
	}
	return nil
}

func profileNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-'
}

// validItem reports whether item is one of Items.
func validItem(item Item) bool {
	switch item {
	case AccessKeyItem, SessionItem, TOTPItem, RoleSessionItem, LockedItem:
		return true
	}
	return false
}

// checkKey validates the profile and item every backend operation names.
func checkKey(profile string, item Item) error {
	if err := ValidateProfileName(profile); err != nil {
		return err
	}
	if !validItem(item) {
		names := make([]string, len(Items()))
		for i, it := range Items() {
			names[i] = string(it)
		}
		return fmt.Errorf("unknown keystore item %q: use one of %s", item, strings.Join(names, ", "))
	}
	return nil
}

// checkValue rejects values no backend should store.
func checkValue(profile string, item Item, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("refusing to store an empty %s for profile %q: delete the item instead", item, profile)
	}
	return nil
}

// notFound returns the error Get reports for an absent item.
func notFound(backend, profile string, item Item) error {
	return fmt.Errorf("profile %q has no %s in the %s keystore: %w", profile, item, backend, ErrNotFound)
}
