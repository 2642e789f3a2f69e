package policy

import (
	"regexp"
	"strings"
)

// reqContext is a request context with lower-cased key names.
type reqContext map[string][]string

// newReqContext folds key names to lower case (IAM context key names are
// case-insensitive), merging the values of keys that differ only in case.
func newReqContext(in map[string][]string) reqContext {
	out := make(reqContext, len(in))
	for k, v := range in {
		lk := strings.ToLower(k)
		out[lk] = append(out[lk], v...)
	}
	return out
}

// lookup returns the values of key and whether it is present with at least
// one value.
func (c reqContext) lookup(key string) ([]string, bool) {
	v := c[strings.ToLower(key)]
	return v, len(v) > 0
}

// segment is a piece of a policy string after policy-variable substitution.
type segment struct {
	text string
	// literal marks text that came from a substitution (a context value, a
	// default or ${*}, ${?}, ${$}): wildcard characters in it match only
	// themselves.
	literal bool
}

// expansion is a policy string after policy-variable substitution.
type expansion struct {
	segs []segment
	// unresolved names a variable that has no value in the request and no
	// default ("" when every variable resolved). AWS documents that such a
	// value matches nothing.
	unresolved string
}

// String returns the substituted text.
func (e expansion) String() string {
	var b strings.Builder
	for _, s := range e.segs {
		b.WriteString(s.text)
	}
	return b.String()
}

// expand substitutes policy variables in s when vars is true (policy
// language 2012-10-17); otherwise s is returned as one raw segment.
//
// Supported forms: ${key} for any request context key (aws:username,
// aws:userid, aws:PrincipalTag/…, …), ${key, 'default'} (two single quotes
// stand for one inside the default), and ${*}, ${?}, ${$} for a literal *, ?
// and $. A key that is missing or multi-valued uses the default, if any;
// otherwise the expansion is marked unresolved.
func expand(s string, ctx reqContext, vars bool) expansion {
	if !vars || !strings.Contains(s, "${") {
		return expansion{segs: []segment{{text: s}}}
	}
	var e expansion
	raw := func(t string) {
		if t != "" {
			e.segs = append(e.segs, segment{text: t})
		}
	}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			raw(s)
			return e
		}
		raw(s[:i])
		name, def, hasDef, n, ok := parseVariable(s[i+2:])
		if !ok {
			// Not a well-formed variable: AWS cannot resolve it.
			if e.unresolved == "" {
				e.unresolved = s[i:]
			}
			raw(s[i:])
			return e
		}
		s = s[i+2+n:]
		switch name {
		case "*", "?", "$":
			e.segs = append(e.segs, segment{text: name, literal: true})
			continue
		}
		if v, present := ctx.lookup(name); present && len(v) == 1 {
			e.segs = append(e.segs, segment{text: v[0], literal: true})
			continue
		}
		if hasDef {
			e.segs = append(e.segs, segment{text: def, literal: true})
			continue
		}
		if e.unresolved == "" {
			e.unresolved = name
		}
		e.segs = append(e.segs, segment{text: "${" + name + "}", literal: true})
	}
}

// parseVariable reads a variable body after "${": "name}" or
// "name, 'default'}". It returns the bytes consumed, including the "}".
func parseVariable(s string) (name, def string, hasDef bool, n int, ok bool) {
	end := strings.IndexAny(s, ",}")
	if end < 0 {
		return "", "", false, 0, false
	}
	name = strings.TrimSpace(s[:end])
	if name == "" {
		return "", "", false, 0, false
	}
	if s[end] == '}' {
		return name, "", false, end + 1, true
	}
	i := end + 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || s[i] != '\'' {
		return "", "", false, 0, false
	}
	i++
	var b strings.Builder
	for {
		if i >= len(s) {
			return "", "", false, 0, false
		}
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			i++
			break
		}
		b.WriteByte(s[i])
		i++
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || s[i] != '}' {
		return "", "", false, 0, false
	}
	return name, b.String(), true, i + 1, true
}

// globRegexp compiles segments into an anchored regular expression in which
// * and ? in raw segments are wildcards (any run of characters, any one
// character) and everything else matches itself.
func globRegexp(segs []segment, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s")
	if fold {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for _, s := range segs {
		if s.literal {
			b.WriteString(regexp.QuoteMeta(s.text))
			continue
		}
		for _, r := range s.text {
			switch r {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
	}
	b.WriteString("$")
	// Every piece is quoted or a fixed wildcard, so compilation cannot fail.
	return regexp.MustCompile(b.String())
}

// globMatch reports whether value matches the wildcard pattern segs.
func globMatch(segs []segment, value string, fold bool) bool {
	return globRegexp(segs, fold).MatchString(value)
}

// wildcardMatch matches value against a plain wildcard pattern (no variables).
func wildcardMatch(pattern, value string, fold bool) bool {
	return globMatch([]segment{{text: pattern}}, value, fold)
}

// splitARN splits expanded ARN pattern segments into the six colon-separated
// ARN components; colons inside substituted text do not split. ok is false
// when there are fewer than six components.
func splitARN(segs []segment) (parts [][]segment, ok bool) {
	cur := []segment{}
	for _, s := range segs {
		if s.literal || len(parts) == 5 {
			cur = append(cur, s)
			continue
		}
		text := s.text
		for len(parts) < 5 {
			i := strings.IndexByte(text, ':')
			if i < 0 {
				break
			}
			cur = append(cur, segment{text: text[:i]})
			parts = append(parts, cur)
			cur = []segment{}
			text = text[i+1:]
		}
		if text != "" {
			cur = append(cur, segment{text: text})
		}
	}
	parts = append(parts, cur)
	return parts, len(parts) == 6
}
