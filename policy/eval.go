package policy

import (
	"fmt"
	"strings"
)

// Decision is the outcome of evaluating a request against policies.
type Decision int

// The possible decisions.
const (
	// ImplicitDeny: no statement allows the request (and none denies it).
	ImplicitDeny Decision = iota
	// Allowed: a statement allows the request and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement applies to the request.
	ExplicitDeny
	// Unknown: a statement that could change the decision cannot be
	// evaluated (unknown operator, unparseable value); see Result.Unknown.
	Unknown
)

// String returns "allowed", "explicit-deny", "implicit-deny" or "unknown".
func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicit-deny"
	case ImplicitDeny:
		return "implicit-deny"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// MarshalText encodes the decision as its String form.
func (d Decision) MarshalText() ([]byte, error) {
	switch d {
	case Allowed, ExplicitDeny, ImplicitDeny, Unknown:
		return []byte(d.String()), nil
	}
	return nil, fmt.Errorf("invalid decision %d", int(d))
}

// UnmarshalText decodes a decision from its String form.
func (d *Decision) UnmarshalText(b []byte) error {
	for _, c := range []Decision{Allowed, ExplicitDeny, ImplicitDeny, Unknown} {
		if string(b) == c.String() {
			*d = c
			return nil
		}
	}
	return fmt.Errorf("invalid decision %q: want allowed, explicit-deny, implicit-deny or unknown", b)
}

// Request is what is being authorized.
type Request struct {
	// Action is the action, e.g. "ec2:StopInstances".
	Action string
	// Resource is the resource ARN. Empty (or "*") stands for an
	// unspecified resource: it falls within every Resource element, and
	// within every NotResource element except one that excludes all
	// resources ("*").
	Resource string
	// Context maps condition keys (case-insensitive) to their values; a key
	// may have several values. A key that is absent or has no values is
	// missing from the request.
	Context map[string][]string
}

// StatementRef identifies a statement in the documents given to Evaluate.
type StatementRef struct {
	// File is the document's Source (its file path, when parsed with ParseFile).
	File string `json:"file,omitempty"`
	// Document is the document's 0-based position in the list given to Evaluate.
	Document int `json:"document"`
	// Index is the statement's 0-based position in its document.
	Index int `json:"index"`
	// Sid is the statement's Sid, if any.
	Sid string `json:"sid,omitempty"`
	// Effect is the statement's effect.
	Effect Effect `json:"effect"`
}

// String names the statement for people: file, index and Sid.
func (r StatementRef) String() string {
	var b strings.Builder
	if r.File != "" {
		b.WriteString(r.File)
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "Statement[%d]", r.Index)
	if r.Sid != "" {
		fmt.Fprintf(&b, " (Sid %q)", r.Sid)
	}
	return b.String()
}

// Result is the outcome of Evaluate.
type Result struct {
	// Decision is the overall decision.
	Decision Decision `json:"decision"`
	// Matched lists the statements that decided: the Deny statements that
	// apply (ExplicitDeny), the Allow statements that apply (Allowed), or
	// the statements that could not be evaluated and could change the
	// decision (Unknown). It is empty for ImplicitDeny.
	Matched []StatementRef `json:"matched,omitempty"`
	// Unknown gives the reasons for an Unknown decision.
	Unknown []string `json:"unknown,omitempty"`
}

// Evaluate decides a request against the documents together, following the
// IAM evaluation logic for identity policies: an applicable Deny wins, else
// an applicable Allow allows, else the request is implicitly denied.
//
// A statement applies when its Action/NotAction covers the action (case-
// insensitive, with * and ? wildcards), its Resource/NotResource covers the
// resource (case-sensitive, with wildcards and, under Version 2012-10-17,
// policy variables) and all of its conditions hold. When a statement cannot
// be evaluated (an operator this package does not know, a value it cannot
// parse) and its outcome could change the decision, the decision is Unknown
// with the reasons; it is never silently treated as a match or a non-match.
func Evaluate(docs []*Document, req Request) Result {
	ctx := newReqContext(req.Context)
	var denies, allows, unknownDenies, unknownAllows []StatementRef
	var denyReasons, allowReasons []string
	for di, doc := range docs {
		if doc == nil {
			continue
		}
		vars := doc.Version == Version2012
		for si := range doc.Statements {
			st := &doc.Statements[si]
			ref := StatementRef{File: doc.Source, Document: di, Index: st.Index, Sid: st.Sid, Effect: st.Effect}
			res, reason := st.applies(req, ctx, vars)
			switch {
			case res == triTrue && st.Effect == Deny:
				denies = append(denies, ref)
			case res == triTrue:
				allows = append(allows, ref)
			case res == triUnknown && st.Effect == Deny:
				unknownDenies = append(unknownDenies, ref)
				denyReasons = append(denyReasons, ref.String()+": "+reason)
			case res == triUnknown:
				unknownAllows = append(unknownAllows, ref)
				allowReasons = append(allowReasons, ref.String()+": "+reason)
			}
		}
	}
	switch {
	case len(denies) > 0:
		return Result{Decision: ExplicitDeny, Matched: denies}
	case len(unknownDenies) > 0:
		return Result{Decision: Unknown, Matched: unknownDenies, Unknown: denyReasons}
	case len(allows) > 0:
		return Result{Decision: Allowed, Matched: allows}
	case len(unknownAllows) > 0:
		return Result{Decision: Unknown, Matched: unknownAllows, Unknown: allowReasons}
	}
	return Result{Decision: ImplicitDeny}
}

// applies reports whether the statement applies to the request.
func (st *Statement) applies(req Request, ctx reqContext, vars bool) (tri, string) {
	if !st.matchesAction(req.Action) || !st.matchesResource(req.Resource, ctx, vars) {
		return triFalse, ""
	}
	// Conditions are ANDed: one false condition settles it even if another
	// is unknown.
	result, reasons := triTrue, []string(nil)
	for _, c := range st.Conditions {
		r, reason := evalCondition(c, ctx, vars)
		switch r {
		case triFalse:
			return triFalse, ""
		case triUnknown:
			result = triUnknown
			reasons = append(reasons, reason)
		}
	}
	return result, strings.Join(reasons, "; ")
}

// matchesAction applies Action or NotAction.
func (st *Statement) matchesAction(action string) bool {
	if len(st.NotAction) > 0 {
		return !anyActionMatch(st.NotAction, action)
	}
	return anyActionMatch(st.Action, action)
}

// anyActionMatch matches an action against patterns, case-insensitively.
func anyActionMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, action, true) {
			return true
		}
	}
	return false
}

// matchesResource applies Resource or NotResource.
func (st *Statement) matchesResource(resource string, ctx reqContext, vars bool) bool {
	if !st.HasResource {
		return true
	}
	unspecified := resource == "" || resource == "*"
	if len(st.NotResource) > 0 {
		for _, p := range st.NotResource {
			if unspecified {
				if strings.Trim(p, "*") == "" {
					return false
				}
				continue
			}
			if resourceMatch(p, resource, ctx, vars) {
				return false
			}
		}
		return true
	}
	for _, p := range st.Resource {
		if unspecified {
			// Any resource the pattern can name once its variables resolve.
			if expand(p, ctx, vars).unresolved == "" {
				return true
			}
			continue
		}
		if resourceMatch(p, resource, ctx, vars) {
			return true
		}
	}
	return false
}

// resourceMatch matches a resource ARN against one Resource pattern
// (case-sensitive; * and ? wildcards; policy variables under 2012-10-17).
func resourceMatch(pattern, resource string, ctx reqContext, vars bool) bool {
	e := expand(pattern, ctx, vars)
	if e.unresolved != "" {
		return false
	}
	return globMatch(e.segs, resource, false)
}
