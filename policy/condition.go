package policy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// tri is a three-valued truth: a condition or statement may be undecidable.
type tri int

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// family groups condition operators by the type they compare.
type family int

const (
	famString family = iota
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

// comparison is what a positive operator tests.
type comparison int

const (
	cmpEq comparison = iota
	cmpEqFold
	cmpLike
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

// opSpec describes a base condition operator (without set qualifier or
// IfExists suffix).
type opSpec struct {
	family  family
	cmp     comparison
	negated bool
	// vars is true when AWS substitutes policy variables in the operator's
	// values (String, Bool and ARN operators).
	vars bool
}

// baseOperator returns the spec of a base operator name (case-sensitive,
// as AWS spells it).
func baseOperator(name string) (opSpec, bool) {
	switch name {
	case "StringEquals":
		return opSpec{family: famString, cmp: cmpEq, vars: true}, true
	case "StringNotEquals":
		return opSpec{family: famString, cmp: cmpEq, negated: true, vars: true}, true
	case "StringEqualsIgnoreCase":
		return opSpec{family: famString, cmp: cmpEqFold, vars: true}, true
	case "StringNotEqualsIgnoreCase":
		return opSpec{family: famString, cmp: cmpEqFold, negated: true, vars: true}, true
	case "StringLike":
		return opSpec{family: famString, cmp: cmpLike, vars: true}, true
	case "StringNotLike":
		return opSpec{family: famString, cmp: cmpLike, negated: true, vars: true}, true
	case "NumericEquals":
		return opSpec{family: famNumeric, cmp: cmpEq}, true
	case "NumericNotEquals":
		return opSpec{family: famNumeric, cmp: cmpEq, negated: true}, true
	case "NumericLessThan":
		return opSpec{family: famNumeric, cmp: cmpLt}, true
	case "NumericLessThanEquals":
		return opSpec{family: famNumeric, cmp: cmpLe}, true
	case "NumericGreaterThan":
		return opSpec{family: famNumeric, cmp: cmpGt}, true
	case "NumericGreaterThanEquals":
		return opSpec{family: famNumeric, cmp: cmpGe}, true
	case "DateEquals":
		return opSpec{family: famDate, cmp: cmpEq}, true
	case "DateNotEquals":
		return opSpec{family: famDate, cmp: cmpEq, negated: true}, true
	case "DateLessThan":
		return opSpec{family: famDate, cmp: cmpLt}, true
	case "DateLessThanEquals":
		return opSpec{family: famDate, cmp: cmpLe}, true
	case "DateGreaterThan":
		return opSpec{family: famDate, cmp: cmpGt}, true
	case "DateGreaterThanEquals":
		return opSpec{family: famDate, cmp: cmpGe}, true
	case "Bool":
		return opSpec{family: famBool, cmp: cmpEq, vars: true}, true
	case "BinaryEquals":
		return opSpec{family: famBinary, cmp: cmpEq}, true
	case "IpAddress":
		return opSpec{family: famIP, cmp: cmpEq}, true
	case "NotIpAddress":
		return opSpec{family: famIP, cmp: cmpEq, negated: true}, true
	case "ArnEquals", "ArnLike":
		return opSpec{family: famARN, cmp: cmpLike, vars: true}, true
	case "ArnNotEquals", "ArnNotLike":
		return opSpec{family: famARN, cmp: cmpLike, negated: true, vars: true}, true
	case "Null":
		return opSpec{family: famNull, cmp: cmpEq}, true
	}
	return opSpec{}, false
}

// Set qualifiers.
const (
	setNone = iota
	setForAll
	setForAny
)

// operator is a parsed condition operator.
type operator struct {
	spec     opSpec
	set      int
	ifExists bool
}

// parseOperator parses "[ForAllValues:|ForAnyValue:]Base[IfExists]".
func parseOperator(s string) (operator, error) {
	var op operator
	name := s
	switch {
	case strings.HasPrefix(name, "ForAllValues:"):
		op.set, name = setForAll, strings.TrimPrefix(name, "ForAllValues:")
	case strings.HasPrefix(name, "ForAnyValue:"):
		op.set, name = setForAny, strings.TrimPrefix(name, "ForAnyValue:")
	}
	spec, ok := baseOperator(name)
	if !ok && strings.HasSuffix(name, "IfExists") {
		spec, ok = baseOperator(strings.TrimSuffix(name, "IfExists"))
		op.ifExists = ok
	}
	if !ok {
		return op, fmt.Errorf("unknown condition operator %q", s)
	}
	if spec.family == famNull && (op.ifExists || op.set != setNone) {
		return op, fmt.Errorf("condition operator %q is not valid: Null takes neither IfExists nor a set qualifier", s)
	}
	op.spec = spec
	return op, nil
}

// preparedValue is one policy value ready for comparison.
type preparedValue struct {
	exp  expansion
	num  float64
	date time.Time
	b    bool
	bin  []byte
	ip   netip.Prefix
}

// evalCondition evaluates one condition against the request context. The
// reason explains a triUnknown result.
func evalCondition(c Condition, ctx reqContext, vars bool) (tri, string) {
	op, err := parseOperator(c.Operator)
	if err != nil {
		return triUnknown, err.Error()
	}
	prepared := make([]preparedValue, 0, len(c.Values))
	unresolved := false
	for _, v := range c.Values {
		pv, err := prepareValue(op.spec, v, ctx, vars)
		if err != nil {
			return triUnknown, fmt.Sprintf("%s %s: %v", c.Operator, c.Key, err)
		}
		if pv.exp.unresolved != "" {
			// AWS: a variable without a value makes any attempt to match
			// fail and the statement invalid.
			unresolved = true
			continue
		}
		prepared = append(prepared, pv)
	}
	values, present := ctx.lookup(c.Key)

	if op.spec.family == famNull {
		for _, p := range prepared {
			if p.b == !present {
				return triTrue, ""
			}
		}
		return triFalse, ""
	}
	if unresolved {
		return triFalse, ""
	}
	if !present {
		switch {
		case op.ifExists:
			return triTrue, ""
		case op.set == setForAll:
			return triTrue, ""
		case op.set == setForAny:
			return triFalse, ""
		case op.spec.negated:
			return triTrue, ""
		default:
			return triFalse, ""
		}
	}
	results := make([]bool, 0, len(values))
	for _, v := range values {
		m, err := matchValue(op.spec, v, prepared)
		if err != nil {
			return triUnknown, fmt.Sprintf("%s %s: %v", c.Operator, c.Key, err)
		}
		if op.spec.negated {
			m = !m
		}
		results = append(results, m)
	}
	all, any := true, false
	for _, r := range results {
		all = all && r
		any = any || r
	}
	var ok bool
	switch {
	case op.set == setForAll:
		ok = all
	case op.set == setForAny:
		ok = any
	case op.spec.negated:
		// No request value may match any policy value.
		ok = all
	default:
		ok = any
	}
	if ok {
		return triTrue, ""
	}
	return triFalse, ""
}

// prepareValue substitutes variables (where the operator allows them) and
// parses a policy value for its operator family.
func prepareValue(spec opSpec, v string, ctx reqContext, vars bool) (preparedValue, error) {
	pv := preparedValue{exp: expand(v, ctx, vars && spec.vars)}
	if pv.exp.unresolved != "" {
		return pv, nil
	}
	text := pv.exp.String()
	var err error
	switch spec.family {
	case famNumeric:
		if pv.num, err = parseNumber(text); err != nil {
			return pv, fmt.Errorf("policy value %q is not a number", v)
		}
	case famDate:
		if pv.date, err = parseDate(text); err != nil {
			return pv, fmt.Errorf("policy value %q is not an ISO 8601 date or epoch seconds", v)
		}
	case famBool, famNull:
		if pv.b, err = parseBool(text); err != nil {
			return pv, fmt.Errorf("policy value %q is not true or false", v)
		}
	case famBinary:
		if pv.bin, err = base64.StdEncoding.DecodeString(text); err != nil {
			return pv, fmt.Errorf("policy value %q is not base64", v)
		}
	case famIP:
		if pv.ip, err = parseCIDR(text); err != nil {
			return pv, fmt.Errorf("policy value %q is not an IP address or CIDR range", v)
		}
	}
	return pv, nil
}

// matchValue reports whether one request value matches any policy value
// under the positive form of the operator.
func matchValue(spec opSpec, v string, prepared []preparedValue) (bool, error) {
	switch spec.family {
	case famString:
		for _, p := range prepared {
			switch spec.cmp {
			case cmpEq:
				if v == p.exp.String() {
					return true, nil
				}
			case cmpEqFold:
				if strings.EqualFold(v, p.exp.String()) {
					return true, nil
				}
			case cmpLike:
				if globMatch(p.exp.segs, v, false) {
					return true, nil
				}
			}
		}
		return false, nil
	case famNumeric:
		n, err := parseNumber(v)
		if err != nil {
			return false, fmt.Errorf("request value %q is not a number", v)
		}
		for _, p := range prepared {
			if compareOrdered(spec.cmp, cmpFloat(n, p.num)) {
				return true, nil
			}
		}
		return false, nil
	case famDate:
		d, err := parseDate(v)
		if err != nil {
			return false, fmt.Errorf("request value %q is not an ISO 8601 date or epoch seconds", v)
		}
		for _, p := range prepared {
			if compareOrdered(spec.cmp, d.Compare(p.date)) {
				return true, nil
			}
		}
		return false, nil
	case famBool:
		b, err := parseBool(v)
		if err != nil {
			return false, fmt.Errorf("request value %q is not true or false", v)
		}
		for _, p := range prepared {
			if b == p.b {
				return true, nil
			}
		}
		return false, nil
	case famBinary:
		data, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			data = []byte(v)
		}
		for _, p := range prepared {
			if bytes.Equal(data, p.bin) {
				return true, nil
			}
		}
		return false, nil
	case famIP:
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return false, fmt.Errorf("request value %q is not an IP address", v)
		}
		addr = addr.Unmap()
		for _, p := range prepared {
			if p.ip.Contains(addr) {
				return true, nil
			}
		}
		return false, nil
	case famARN:
		for _, p := range prepared {
			if arnMatch(p.exp.segs, v) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("operator family %d cannot compare values", spec.family)
}

// cmpFloat returns -1, 0 or +1.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareOrdered applies an ordered comparison to a three-way result.
func compareOrdered(c comparison, r int) bool {
	switch c {
	case cmpEq:
		return r == 0
	case cmpLt:
		return r < 0
	case cmpLe:
		return r <= 0
	case cmpGt:
		return r > 0
	case cmpGe:
		return r >= 0
	}
	return false
}

// arnMatch matches an ARN against a pattern component by component, as
// ArnLike/ArnEquals do: each of the six colon-separated components is
// matched separately and may contain * and ?. A pattern without any colon
// (such as "*") is matched against the whole value.
func arnMatch(pattern []segment, value string) bool {
	parts, ok := splitARN(pattern)
	if len(parts) == 1 {
		return globMatch(pattern, value, false)
	}
	if !ok {
		return false
	}
	vparts := strings.SplitN(value, ":", 6)
	if len(vparts) != 6 {
		return false
	}
	for i := range parts {
		if !globMatch(parts[i], vparts[i], false) {
			return false
		}
	}
	return true
}

// parseNumber parses an integer or decimal number.
func parseNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

// parseBool parses "true" or "false" (any case).
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// isEpoch reports whether s looks like epoch seconds: digits with an
// optional sign and fraction. Four bare digits read as a year (ISO 8601).
func isEpoch(s string) bool {
	t := strings.TrimPrefix(s, "-")
	if len(s) == 4 && t == s {
		return false
	}
	whole, frac, hasFrac := strings.Cut(t, ".")
	digits := func(x string) bool {
		if x == "" {
			return false
		}
		for _, r := range x {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return digits(whole) && (!hasFrac || digits(frac))
}

// parseDate parses an ISO 8601 date/time (the W3C profile AWS documents;
// no zone means UTC) or epoch seconds.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if isEpoch(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, err
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
		"2006-01",
		"2006",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date", s)
}

// parseCIDR parses a CIDR range or a bare address (as /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				bits = 0
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
