// Package policy evaluates AWS IAM identity policies the way AWS documents
// it, with a focus on MFA enforcement: it tells whether a request with a
// given context (long-term access keys, console without MFA, MFA session of a
// given age, …) is allowed, explicitly denied or implicitly denied, and it
// checks policies for the usual MFA pitfalls.
//
// The evaluator is deliberately focused: it covers the policy grammar
// (Version, Statement, Sid, Effect, Action/NotAction, Resource/NotResource,
// Condition; Principal is accepted and ignored) and every documented
// condition operator, but it knows nothing about service-specific request
// contexts, resource-based policies, permissions boundaries, SCPs or session
// policies. Whatever it cannot decide is reported as Unknown, never guessed.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Policy language versions.
const (
	// Version2012 is the current policy language; it enables policy variables.
	Version2012 = "2012-10-17"
	// Version2008 is the old policy language; policy variables are literal text.
	Version2008 = "2008-10-17"
)

// Effect is a statement's effect: Allow or Deny.
type Effect string

// The two statement effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is one parsed IAM policy document.
type Document struct {
	// Source names where the document came from (the file path for
	// ParseFile; empty for Parse unless the caller sets it).
	Source string `json:"source,omitempty"`
	// Version is the policy language version ("" when the element is absent).
	Version string `json:"version,omitempty"`
	// ID is the optional Id element.
	ID string `json:"id,omitempty"`
	// Statements are the document's statements in order.
	Statements []Statement `json:"statements"`
}

// Statement is one statement of a policy document.
type Statement struct {
	// Index is the statement's 0-based position in its document.
	Index int `json:"index"`
	// Sid is the optional statement ID.
	Sid string `json:"sid,omitempty"`
	// Effect is Allow or Deny.
	Effect Effect `json:"effect"`
	// Action lists the actions the statement applies to (empty when NotAction is used).
	Action []string `json:"action,omitempty"`
	// NotAction lists the actions the statement does not apply to.
	NotAction []string `json:"notAction,omitempty"`
	// Resource lists the resources the statement applies to (empty when NotResource is used).
	Resource []string `json:"resource,omitempty"`
	// NotResource lists the resources the statement does not apply to.
	NotResource []string `json:"notResource,omitempty"`
	// HasResource is true when the statement has a Resource or NotResource
	// element; a statement without either applies to every resource.
	HasResource bool `json:"-"`
	// Conditions are the statement's conditions, one per operator and key,
	// sorted by operator then key. All of them must hold (logical AND).
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one operator/key pair of a Condition block with its values.
type Condition struct {
	// Operator is the operator as written, e.g. "BoolIfExists" or
	// "ForAnyValue:StringLike".
	Operator string `json:"operator"`
	// Key is the condition key as written, e.g. "aws:MultiFactorAuthPresent".
	Key string `json:"key"`
	// Values are the policy values; booleans and numbers are kept as their
	// JSON text. Any one of them may match (logical OR; NOR for negated
	// operators).
	Values []string `json:"values"`
}

// label names the statement for messages: its index and, when set, its Sid.
func (s *Statement) label() string {
	if s.Sid != "" {
		return fmt.Sprintf("Statement[%d] (Sid %q)", s.Index, s.Sid)
	}
	return fmt.Sprintf("Statement[%d]", s.Index)
}

// ParseFile reads and parses the policy document at path. The returned
// document's Source is path; errors name the file.
func ParseFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy file %s: %w", path, err)
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	doc.Source = path
	return doc, nil
}

// Parse parses one IAM policy document (JSON). Statement may be a single
// object or a list. As a convenience, a bare statement object (one with an
// Effect element and no Statement element, as policies are often quoted) is
// accepted as a document with that single statement and no Version.
func Parse(data []byte) (*Document, error) {
	top, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("policy is not a JSON object: %w", err)
	}
	if _, ok := top["Statement"]; !ok {
		if _, bare := top["Effect"]; bare {
			st, err := parseStatement(0, top)
			if err != nil {
				return nil, err
			}
			return &Document{Statements: []Statement{st}}, nil
		}
	}
	doc := &Document{}
	for _, name := range sortedKeys(top) {
		raw := top[name]
		switch name {
		case "Version":
			if err := json.Unmarshal(raw, &doc.Version); err != nil {
				//lint:ignore ST1005 the message starts with the IAM element's own name
				return nil, fmt.Errorf("Version must be a string such as %q: %w", Version2012, err)
			}
			if doc.Version != Version2012 && doc.Version != Version2008 {
				return nil, fmt.Errorf("unsupported Version %q: use %q", doc.Version, Version2012)
			}
		case "Id":
			if err := json.Unmarshal(raw, &doc.ID); err != nil {
				//lint:ignore ST1005 the message starts with the IAM element's own name
				return nil, fmt.Errorf("Id must be a string: %w", err)
			}
		case "Statement":
		default:
			return nil, fmt.Errorf("unknown policy element %q: a policy has Version, Id and Statement", name)
		}
	}
	if _, ok := top["Statement"]; !ok {
		return nil, errors.New("policy has no Statement element: a policy needs \"Statement\": [ … ]")
	}
	raws, err := statementList(top["Statement"])
	if err != nil {
		return nil, err
	}
	for i, raw := range raws {
		obj, err := decodeObject(raw)
		if err != nil {
			//lint:ignore ST1005 the message starts with the IAM element's own name
			return nil, fmt.Errorf("Statement[%d] is not a JSON object: %w", i, err)
		}
		st, err := parseStatement(i, obj)
		if err != nil {
			return nil, err
		}
		doc.Statements = append(doc.Statements, st)
	}
	return doc, nil
}

// statementList splits the Statement element into its statements.
func statementList(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("Statement must be an object or a list of objects: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("Statement is an empty list: add at least one statement")
	}
	return list, nil
}

// decodeObject decodes one JSON object, keeping the member values raw and
// rejecting trailing data.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return obj, nil
}

// parseStatement parses one statement object.
func parseStatement(i int, obj map[string]json.RawMessage) (Statement, error) {
	st := Statement{Index: i}
	if raw, ok := obj["Sid"]; ok {
		if err := json.Unmarshal(raw, &st.Sid); err != nil {
			//lint:ignore ST1005 the message starts with the IAM element's own name
			return st, fmt.Errorf("Statement[%d]: Sid must be a string: %w", i, err)
		}
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", st.label(), fmt.Sprintf(format, args...))
	}
	wrap := func(err error, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", st.label(), fmt.Sprintf(format, args...), err)
	}
	var err error
	for _, name := range sortedKeys(obj) {
		raw := obj[name]
		switch name {
		case "Sid", "Principal", "NotPrincipal":
			// Sid is read above; principals are irrelevant to identity policies.
		case "Effect":
			var e string
			if err := json.Unmarshal(raw, &e); err != nil {
				return st, wrap(err, "Effect must be the string \"Allow\" or \"Deny\"")
			}
			switch Effect(e) {
			case Allow, Deny:
				st.Effect = Effect(e)
			default:
				return st, fail("Effect %q is invalid: use \"Allow\" or \"Deny\" (case-sensitive)", e)
			}
		case "Action":
			if st.Action, err = stringList(raw); err != nil {
				return st, wrap(err, "Action")
			}
		case "NotAction":
			if st.NotAction, err = stringList(raw); err != nil {
				return st, wrap(err, "NotAction")
			}
		case "Resource":
			if st.Resource, err = stringList(raw); err != nil {
				return st, wrap(err, "Resource")
			}
		case "NotResource":
			if st.NotResource, err = stringList(raw); err != nil {
				return st, wrap(err, "NotResource")
			}
		case "Condition":
			if st.Conditions, err = parseConditions(raw); err != nil {
				return st, wrap(err, "Condition")
			}
		default:
			return st, fail("unknown element %q: a statement has Sid, Effect, Action/NotAction, Resource/NotResource, Principal and Condition", name)
		}
	}
	if st.Effect == "" {
		return st, fail("missing Effect: add \"Effect\": \"Allow\" or \"Deny\"")
	}
	_, hasAction := obj["Action"]
	_, hasNotAction := obj["NotAction"]
	switch {
	case hasAction && hasNotAction:
		return st, fail("has both Action and NotAction: keep one")
	case !hasAction && !hasNotAction:
		return st, fail("missing Action: add \"Action\" or \"NotAction\"")
	}
	_, hasResource := obj["Resource"]
	_, hasNotResource := obj["NotResource"]
	if hasResource && hasNotResource {
		return st, fail("has both Resource and NotResource: keep one")
	}
	st.HasResource = hasResource || hasNotResource
	return st, nil
}

// sortedKeys returns an object's member names in order, so that errors
// are reported deterministically.
func sortedKeys(obj map[string]json.RawMessage) []string {
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// stringList decodes a string or a non-empty list of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("must be a string or a list of strings: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("is an empty list: give at least one value")
	}
	return list, nil
}

// parseConditions decodes a Condition block into sorted conditions.
func parseConditions(raw json.RawMessage) ([]Condition, error) {
	var block map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, fmt.Errorf("must map operators to {key: value(s)} objects: %w", err)
	}
	ops := make([]string, 0, len(block))
	for op := range block {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var out []Condition
	for _, op := range ops {
		keys := block[op]
		if len(keys) == 0 {
			return nil, fmt.Errorf("operator %s has no keys", op)
		}
		for _, key := range sortedKeys(keys) {
			values, err := conditionValues(keys[key])
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op, key, err)
			}
			out = append(out, Condition{Operator: op, Key: key, Values: values})
		}
	}
	return out, nil
}

// conditionValues decodes a condition value: a string, boolean or number, or
// a non-empty list of them.
func conditionValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("invalid value list: %w", err)
		}
		if len(list) == 0 {
			return nil, errors.New("empty value list: give at least one value")
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			s, err := scalarValue(item)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalarValue(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// scalarValue renders a JSON string, boolean or number as text.
func scalarValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("invalid value: %w", err)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case json.Number:
		return x.String(), nil
	default:
		return "", fmt.Errorf("value %s must be a string, boolean or number", strings.TrimSpace(string(raw)))
	}
}
