package service

import (
	"encoding/xml"
	"strings"
)

// systemdSafe reports whether s needs no quoting in a unit file.
func systemdSafe(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+@:,=", r))
	}) < 0
}

// systemdExecQuote quotes a word of ExecStart=: specifiers (%) and
// variable references ($) are escaped, and the word is double-quoted when
// it holds anything else unusual.
func systemdExecQuote(s string) string {
	if systemdSafe(s) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// systemdEnvQuote writes one Environment= assignment: double-quoted, with
// specifiers escaped (systemd expands no variables there).
func systemdEnvQuote(key, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + key + "=" + r.Replace(value) + `"`
}

// environmentDQuote writes a value in an environment.d file, double-quoted
// when it holds spaces. NewPlan refuses values with $, quotes or
// backslashes, which environment.d would expand or unquote.
func environmentDQuote(s string) string {
	if strings.ContainsAny(s, " \t#") {
		return `"` + s + `"`
	}
	return s
}

// xmlEscape escapes s for a plist's text.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// shQuote quotes s for /bin/sh.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
