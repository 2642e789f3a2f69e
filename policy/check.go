package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Condition keys that describe how a request was authenticated.
const (
	KeyMFAPresent    = "aws:MultiFactorAuthPresent"
	KeyMFAAge        = "aws:MultiFactorAuthAge"
	KeyViaAWSService = "aws:ViaAWSService"
)

// Names of the request contexts produced by Contexts. Window contexts are
// named "mfa-session-age-N" for an MFA session N seconds old.
const (
	ContextLongTermKeys    = "long-term-keys"
	ContextConsoleNoMFA    = "console-no-mfa"
	ContextSessionNoMFA    = "session-no-mfa"
	ContextMFASessionFresh = "mfa-session-age-0"
	ContextViaAWSService   = "via-aws-service"
)

// Identity keys put in every generated context, so that policies scoped to
// the user's own resources (arn:aws:iam::*:user/${aws:username}) resolve.
const (
	ExampleUserName = "mfad-user"
	ExampleUserID   = "AIDAEXAMPLEMFADUSER"
)

// NamedContext is a named request context that Check evaluates every action in.
type NamedContext struct {
	// Name identifies the context, e.g. "long-term-keys".
	Name string `json:"name"`
	// Description says which kind of request the context stands for.
	Description string `json:"description"`
	// MFA is true when the context is an MFA-authenticated session.
	MFA bool `json:"mfa"`
	// Context is the request context (condition key → values).
	Context map[string][]string `json:"context"`
}

// MFASessionContextName names the context of an MFA session ageSeconds old.
func MFASessionContextName(ageSeconds float64) string {
	return "mfa-session-age-" + strconv.FormatFloat(ageSeconds, 'f', -1, 64)
}

// Contexts returns the request contexts Check evaluates, in this order:
//
//   - long-term-keys: CLI/SDK calls signed with an IAM user's access keys;
//     no aws:MultiFactorAuthPresent and no aws:MultiFactorAuthAge.
//   - console-no-mfa: console sign-in without MFA; aws:MultiFactorAuthPresent=false.
//   - session-no-mfa: temporary credentials from GetSessionToken without MFA;
//     aws:MultiFactorAuthPresent=false.
//   - mfa-session-age-0: an MFA session (GetSessionToken with MFA, or a role
//     assumed from one) just made; aws:MultiFactorAuthPresent=true,
//     aws:MultiFactorAuthAge=0.
//   - mfa-session-age-(W-1) and mfa-session-age-(W+1) for every MFA age
//     window W found in the documents (a number compared against
//     aws:MultiFactorAuthAge), e.g. 3599 and 3601 for 3600.
//   - via-aws-service: a service calling on the user's behalf;
//     aws:ViaAWSService=true, aws:MultiFactorAuthPresent=false.
//
// Every direct call has aws:ViaAWSService=false (AWS always includes the
// key), and every context names the IAM user (aws:username, aws:userid,
// aws:PrincipalType=User) and has aws:SecureTransport=true.
func Contexts(docs []*Document) []NamedContext {
	base := func(via bool) map[string][]string {
		return map[string][]string{
			"aws:username":        {ExampleUserName},
			"aws:userid":          {ExampleUserID},
			"aws:PrincipalType":   {"User"},
			"aws:SecureTransport": {"true"},
			KeyViaAWSService:      {strconv.FormatBool(via)},
		}
	}
	with := func(m map[string][]string, kv ...string) map[string][]string {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = []string{kv[i+1]}
		}
		return m
	}
	mfa := func(age float64) NamedContext {
		return NamedContext{
			Name:        MFASessionContextName(age),
			Description: fmt.Sprintf("MFA session %s old (GetSessionToken with MFA, or a role assumed from it)", formatSeconds(age)),
			MFA:         true,
			Context:     with(base(false), KeyMFAPresent, "true", KeyMFAAge, strconv.FormatFloat(age, 'f', -1, 64)),
		}
	}
	out := []NamedContext{
		{Name: ContextLongTermKeys, Description: "CLI/SDK call signed with long-term access keys: no MFA keys at all", Context: base(false)},
		{Name: ContextConsoleNoMFA, Description: "console sign-in without MFA", Context: with(base(false), KeyMFAPresent, "false")},
		{Name: ContextSessionNoMFA, Description: "temporary credentials from GetSessionToken without MFA", Context: with(base(false), KeyMFAPresent, "false")},
		mfa(0),
	}
	seen := map[string]bool{ContextMFASessionFresh: true}
	for _, w := range mfaWindows(docs) {
		for _, age := range []float64{w.seconds - 1, w.seconds + 1} {
			name := MFASessionContextName(age)
			if age < 0 || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, mfa(age))
		}
	}
	out = append(out, NamedContext{
		Name:        ContextViaAWSService,
		Description: "an AWS service calling on the user's behalf",
		Context:     with(base(true), KeyMFAPresent, "false"),
	})
	return out
}

// window is an MFA age limit found in a policy.
type window struct {
	seconds  float64
	ref      StatementRef
	operator string
}

// mfaWindows finds the numbers compared against aws:MultiFactorAuthAge by
// numeric operators, sorted ascending and de-duplicated.
func mfaWindows(docs []*Document) []window {
	var out []window
	seen := map[float64]bool{}
	forEachCondition(docs, func(ref StatementRef, _ *Statement, c Condition) {
		op, err := parseOperator(c.Operator)
		if err != nil || op.spec.family != famNumeric || !strings.EqualFold(c.Key, KeyMFAAge) {
			return
		}
		for _, v := range c.Values {
			n, err := parseNumber(v)
			if err != nil || n <= 0 || seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, window{seconds: n, ref: ref, operator: c.Operator})
		}
	})
	sort.Slice(out, func(a, b int) bool { return out[a].seconds < out[b].seconds })
	return out
}

// forEachCondition calls fn for every condition of every statement.
func forEachCondition(docs []*Document, fn func(ref StatementRef, st *Statement, c Condition)) {
	forEachStatement(docs, func(ref StatementRef, st *Statement) {
		for _, c := range st.Conditions {
			fn(ref, st, c)
		}
	})
}

// forEachStatement calls fn for every statement of every document.
func forEachStatement(docs []*Document, fn func(ref StatementRef, st *Statement)) {
	for di, doc := range docs {
		if doc == nil {
			continue
		}
		for si := range doc.Statements {
			st := &doc.Statements[si]
			fn(StatementRef{File: doc.Source, Document: di, Index: st.Index, Sid: st.Sid, Effect: st.Effect}, st)
		}
	}
}

// SuggestMaxAge returns the smallest MFA age window found in the documents
// (a number of seconds compared against aws:MultiFactorAuthAge), suitable
// for a profile's mfa_max_age. ok is false when there is none.
func SuggestMaxAge(docs []*Document) (time.Duration, bool) {
	ws := mfaWindows(docs)
	if len(ws) == 0 {
		return 0, false
	}
	return time.Duration(ws[0].seconds * float64(time.Second)), true
}

// DefaultActions returns the actions Check uses when none are given.
func DefaultActions() []string {
	return []string{
		"ec2:DescribeInstances",
		"ec2:StopInstances",
		"s3:ListAllMyBuckets",
		"sts:GetSessionToken",
		"iam:CreateVirtualMFADevice",
		"iam:EnableMFADevice",
		"iam:ListMFADevices",
	}
}

// SelfServiceActions returns the actions a user needs without MFA to set up
// an MFA device and get an MFA session.
func SelfServiceActions() []string {
	return []string{
		"sts:GetSessionToken",
		"iam:CreateVirtualMFADevice",
		"iam:EnableMFADevice",
		"iam:ListMFADevices",
		"iam:ResyncMFADevice",
	}
}

// Severity ranks a finding.
type Severity string

// Finding severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding codes.
const (
	FindingBoolPitfall           = "bool-pitfall"
	FindingAllowLetsLongTermKeys = "allow-lets-long-term-keys"
	FindingLongTermKeysBypass    = "long-term-keys-bypass"
	FindingSelfServiceLocked     = "self-service-locked"
	FindingNoMFAEnforcement      = "no-mfa-enforcement"
	FindingViaAWSServiceDenied   = "via-aws-service-denied"
	FindingMFAAgeWindow          = "mfa-age-window"
	FindingUnknownResult         = "unknown-result"
)

// Finding is one problem or fact Check noticed, with how to act on it.
type Finding struct {
	// Severity is error, warning or info.
	Severity Severity `json:"severity"`
	// Code identifies the kind of finding, e.g. "bool-pitfall".
	Code string `json:"code"`
	// Message says what was found and why it matters.
	Message string `json:"message"`
	// Fix says what to change.
	Fix string `json:"fix"`
	// Statements are the statements the finding is about, if any.
	Statements []StatementRef `json:"statements,omitempty"`
}

// Cell is the result of one action in one context.
type Cell struct {
	// Context is the context's name.
	Context string `json:"context"`
	Result
}

// Row is the results of one action in every context, in Report.Contexts order.
type Row struct {
	// Action is the evaluated action.
	Action string `json:"action"`
	// Results has one cell per context.
	Results []Cell `json:"results"`
}

// Report is the outcome of Check.
type Report struct {
	// Contexts are the evaluated contexts (the matrix's columns).
	Contexts []NamedContext `json:"contexts"`
	// Actions are the evaluated actions (the matrix's rows).
	Actions []string `json:"actions"`
	// Matrix holds one row per action.
	Matrix []Row `json:"matrix"`
	// Findings are ordered by severity (errors first).
	Findings []Finding `json:"findings"`
}

// Decision returns the decision for an action in a named context.
func (r *Report) Decision(action, context string) (Decision, bool) {
	for _, row := range r.Matrix {
		if row.Action != action {
			continue
		}
		for _, c := range row.Results {
			if c.Context == context {
				return c.Decision, true
			}
		}
	}
	return Unknown, false
}

// HasFinding reports whether the report has a finding with the code.
func (r *Report) HasFinding(code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Check evaluates every action in every context of Contexts(docs) and looks
// for MFA pitfalls. With no actions, DefaultActions are used. The resource
// is left unspecified (see Request.Resource).
//
// Findings: bool-pitfall, allow-lets-long-term-keys, long-term-keys-bypass,
// self-service-locked, no-mfa-enforcement, via-aws-service-denied,
// mfa-age-window and unknown-result; docs/policy.md describes each.
func Check(docs []*Document, actions []string) Report {
	if len(actions) == 0 {
		actions = DefaultActions()
	}
	ctxs := Contexts(docs)
	rep := Report{Contexts: ctxs, Actions: append([]string(nil), actions...), Findings: []Finding{}}
	eval := func(action string) Row {
		row := Row{Action: action}
		for _, c := range ctxs {
			row.Results = append(row.Results, Cell{Context: c.Name, Result: Evaluate(docs, Request{Action: action, Context: c.Context})})
		}
		return row
	}
	for _, a := range actions {
		rep.Matrix = append(rep.Matrix, eval(a))
	}
	cells := func(row Row) map[string]Result {
		m := make(map[string]Result, len(row.Results))
		for _, c := range row.Results {
			m[c.Context] = c.Result
		}
		return m
	}

	var f findings
	f.boolPitfall(docs, rep.Matrix, cells)
	f.allowLetsLongTermKeys(docs, rep.Matrix, cells)
	var selfRows []Row
	for _, a := range SelfServiceActions() {
		selfRows = append(selfRows, eval(a))
	}
	f.selfServiceLocked(selfRows, cells)
	f.noMFAEnforcement(rep.Matrix, cells)
	f.viaAWSServiceDenied(rep.Matrix, cells)
	f.mfaAgeWindow(docs, rep.Matrix, cells)
	f.unknown(append(append([]Row(nil), rep.Matrix...), selfRows...))

	rank := map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.SliceStable(f.list, func(a, b int) bool { return rank[f.list[a].Severity] < rank[f.list[b].Severity] })
	rep.Findings = append(rep.Findings, f.list...)
	return rep
}

// findings accumulates Check's findings.
type findings struct {
	list []Finding
}

func (f *findings) add(x Finding) { f.list = append(f.list, x) }

// cellsFunc indexes a row's results by context name.
type cellsFunc func(Row) map[string]Result

// isMFAPresentKey reports whether key is aws:MultiFactorAuthPresent.
func isMFAPresentKey(key string) bool { return strings.EqualFold(key, KeyMFAPresent) }

// hasValue reports whether a condition lists the boolean value want.
func hasValue(c Condition, want bool) bool {
	for _, v := range c.Values {
		if b, err := parseBool(v); err == nil && b == want {
			return true
		}
	}
	return false
}

// boolPitfall: a Deny keyed on Bool aws:MultiFactorAuthPresent false does not
// match requests signed with long-term keys, which lack the key.
func (f *findings) boolPitfall(docs []*Document, rows []Row, cells cellsFunc) {
	var refs []StatementRef
	forEachCondition(docs, func(ref StatementRef, st *Statement, c Condition) {
		op, err := parseOperator(c.Operator)
		if err != nil || st.Effect != Deny || op.spec.family != famBool || op.ifExists || op.set == setForAll {
			return
		}
		if isMFAPresentKey(c.Key) && hasValue(c, false) {
			refs = appendRef(refs, ref)
		}
	})
	var bypass []string
	for _, row := range rows {
		m := cells(row)
		if m[ContextLongTermKeys].Decision != ExplicitDeny && m[ContextLongTermKeys].Decision != Unknown &&
			m[ContextConsoleNoMFA].Decision == ExplicitDeny {
			bypass = append(bypass, row.Action)
		}
	}
	if len(refs) == 0 {
		if len(bypass) > 0 {
			f.add(Finding{
				Severity: SeverityError,
				Code:     FindingLongTermKeysBypass,
				Message: fmt.Sprintf("console users without MFA are explicitly denied %s, but calls signed with long-term access keys are not: they carry no aws:MultiFactorAuthPresent, so the Deny does not match them",
					strings.Join(bypass, ", ")),
				Fix: "make the Deny's conditions also match requests without the MFA keys (use the …IfExists operators, e.g. BoolIfExists aws:MultiFactorAuthPresent false)",
			})
		}
		return
	}
	msg := fmt.Sprintf("%s denies with Bool aws:MultiFactorAuthPresent false: requests signed with long-term access keys (CLI/SDK) have no aws:MultiFactorAuthPresent, and Bool does not match a missing key, so they bypass the Deny", refList(refs))
	sev := SeverityError
	if len(bypass) > 0 {
		msg += fmt.Sprintf(" (here console-no-mfa is explicitly denied %s, long-term-keys is not)", strings.Join(bypass, ", "))
	} else {
		sev = SeverityWarning
		msg += " (no checked action shows the gap: other statements cover long-term keys, but this one does not do what it appears to)"
	}
	f.add(Finding{
		Severity:   sev,
		Code:       FindingBoolPitfall,
		Message:    msg,
		Fix:        `change "Bool" to "BoolIfExists" in that Deny's condition so requests without the key are denied too`,
		Statements: refs,
	})
}

// allowLetsLongTermKeys: an Allow on BoolIfExists aws:MultiFactorAuthPresent
// true (or any allow that long-term keys get while console users without MFA
// do not) admits long-term keys without MFA.
func (f *findings) allowLetsLongTermKeys(docs []*Document, rows []Row, cells cellsFunc) {
	var refs []StatementRef
	forEachCondition(docs, func(ref StatementRef, st *Statement, c Condition) {
		op, err := parseOperator(c.Operator)
		if err != nil || st.Effect != Allow || op.spec.family != famBool || !op.ifExists {
			return
		}
		if isMFAPresentKey(c.Key) && hasValue(c, true) {
			refs = appendRef(refs, ref)
		}
	})
	var actions []string
	for _, row := range rows {
		m := cells(row)
		lt, console := m[ContextLongTermKeys].Decision, m[ContextConsoleNoMFA].Decision
		if lt == Allowed && (console == ImplicitDeny || console == ExplicitDeny) {
			actions = append(actions, row.Action)
		}
	}
	if len(refs) == 0 && len(actions) == 0 {
		return
	}
	var msg string
	if len(refs) > 0 {
		msg = fmt.Sprintf("%s allows with BoolIfExists aws:MultiFactorAuthPresent true: requests signed with long-term access keys have no such key, so IfExists lets them in without MFA", refList(refs))
		if len(actions) > 0 {
			msg += fmt.Sprintf(" (here: %s)", strings.Join(actions, ", "))
		}
	} else {
		msg = fmt.Sprintf("long-term access keys are allowed %s while console users without MFA are denied: the policies let CLI/SDK calls skip MFA", strings.Join(actions, ", "))
	}
	f.add(Finding{
		Severity:   SeverityError,
		Code:       FindingAllowLetsLongTermKeys,
		Message:    msg,
		Fix:        `require MFA for long-term keys too: use "Bool" (not "BoolIfExists") aws:MultiFactorAuthPresent true in the Allow, or add a Deny with BoolIfExists aws:MultiFactorAuthPresent false, and have CLI users work from an MFA session (mfad)`,
		Statements: refs,
	})
}

// selfServiceLocked: without MFA, users must still be able to set up an MFA
// device and get an MFA session.
func (f *findings) selfServiceLocked(rows []Row, cells cellsFunc) {
	var locked []string
	var refs []StatementRef
	iamLocked := false
	for _, row := range rows {
		m := cells(row)
		withMFA := m[ContextMFASessionFresh].Decision
		for _, name := range []string{ContextLongTermKeys, ContextConsoleNoMFA} {
			r := m[name]
			if r.Decision == ExplicitDeny || (r.Decision == ImplicitDeny && withMFA == Allowed) {
				locked = append(locked, fmt.Sprintf("%s (%s: %s)", row.Action, name, r.Decision))
				for _, ref := range r.Matched {
					refs = appendRef(refs, ref)
				}
				if !strings.EqualFold(row.Action, "sts:GetSessionToken") {
					iamLocked = true
				}
				break
			}
		}
	}
	if len(locked) == 0 {
		return
	}
	sev := SeverityError
	msg := fmt.Sprintf("without MFA these self-service actions are denied: %s; users cannot set up an MFA device on their own, so they are locked out", strings.Join(locked, ", "))
	if !iamLocked {
		sev = SeverityWarning
		msg = fmt.Sprintf("without MFA the policies deny %s. AWS documents that no permission is needed for sts:GetSessionToken and that policies do not control it, so the call still works, but the policies read as a lock-out and policy simulators report it denied", strings.Join(locked, ", "))
	}
	f.add(Finding{
		Severity:   sev,
		Code:       FindingSelfServiceLocked,
		Message:    msg,
		Fix:        "let users without MFA call sts:GetSessionToken and the MFA self-service actions (iam:CreateVirtualMFADevice, iam:EnableMFADevice, iam:ListMFADevices, iam:ResyncMFADevice): list them in the NotAction of every MFA Deny, and allow them without an MFA condition on the user's own resources (arn:aws:iam::*:mfa/${aws:username}, arn:aws:iam::*:user/${aws:username}); `mfad policy template` shows the pattern",
		Statements: refs,
	})
}

// noMFAEnforcement: nothing differs between long-term keys and MFA sessions.
func (f *findings) noMFAEnforcement(rows []Row, cells cellsFunc) {
	if len(rows) == 0 {
		return
	}
	for _, row := range rows {
		m := cells(row)
		lt, mfa := m[ContextLongTermKeys].Decision, m[ContextMFASessionFresh].Decision
		if lt != mfa || lt == Unknown {
			return
		}
	}
	f.add(Finding{
		Severity: SeverityWarning,
		Code:     FindingNoMFAEnforcement,
		Message:  "no checked action is decided differently for long-term access keys than for an MFA session: these policies do not require MFA for API calls",
		Fix:      "add a Deny with NotAction (sts:GetSessionToken and the MFA self-service actions) and BoolIfExists aws:MultiFactorAuthPresent false; `mfad policy template` prints one",
	})
}

// viaAWSServiceDenied: services acting for an MFA-authenticated user are
// refused because the Deny does not exempt aws:ViaAWSService=true.
func (f *findings) viaAWSServiceDenied(rows []Row, cells cellsFunc) {
	var actions []string
	var refs []StatementRef
	for _, row := range rows {
		m := cells(row)
		via := m[ContextViaAWSService]
		if via.Decision == ExplicitDeny && m[ContextMFASessionFresh].Decision != ExplicitDeny {
			actions = append(actions, row.Action)
			for _, ref := range via.Matched {
				refs = appendRef(refs, ref)
			}
		}
	}
	if len(actions) == 0 {
		return
	}
	f.add(Finding{
		Severity:   SeverityWarning,
		Code:       FindingViaAWSServiceDenied,
		Message:    fmt.Sprintf("an AWS service calling on the user's behalf (aws:ViaAWSService=true, no MFA keys of its own) is explicitly denied %s, which an MFA session is not: services such as CloudFormation can fail for MFA-authenticated users", strings.Join(actions, ", ")),
		Fix:        `add "aws:ViaAWSService": "false" under the same BoolIfExists operator of the MFA Deny, so that only direct calls need MFA`,
		Statements: refs,
	})
}

// mfaAgeWindow reports the MFA age window and the mfa_max_age to set.
func (f *findings) mfaAgeWindow(docs []*Document, rows []Row, cells cellsFunc) {
	ws := mfaWindows(docs)
	if len(ws) == 0 {
		return
	}
	var parts []string
	var refs []StatementRef
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", w.operator, strconv.FormatFloat(w.seconds, 'f', -1, 64), w.ref))
		refs = appendRef(refs, w.ref)
	}
	w := ws[0]
	var flipped []string
	before, after := MFASessionContextName(w.seconds-1), MFASessionContextName(w.seconds+1)
	for _, row := range rows {
		m := cells(row)
		b, a := m[before].Decision, m[after].Decision
		if (b == Allowed && a != Allowed) || (b != ExplicitDeny && a == ExplicitDeny) {
			flipped = append(flipped, fmt.Sprintf("%s (%s → %s)", row.Action, b, a))
		}
	}
	d := time.Duration(w.seconds * float64(time.Second))
	msg := fmt.Sprintf("MFA sessions are limited to %s by aws:MultiFactorAuthAge: %s", FormatDuration(d), strings.Join(parts, "; "))
	if len(flipped) > 0 {
		msg += fmt.Sprintf("; once the MFA is older than that: %s", strings.Join(flipped, ", "))
	}
	f.add(Finding{
		Severity:   SeverityInfo,
		Code:       FindingMFAAgeWindow,
		Message:    msg,
		Fix:        fmt.Sprintf("set mfa_max_age: %s for this profile, so mfad asks for a new MFA code before AWS starts refusing the session", FormatDuration(d)),
		Statements: refs,
	})
}

// unknown reports results that could not be decided.
func (f *findings) unknown(rows []Row) {
	var reasons []string
	seen := map[string]bool{}
	var refs []StatementRef
	for _, row := range rows {
		for _, c := range row.Results {
			if c.Decision != Unknown {
				continue
			}
			for _, r := range c.Unknown {
				if !seen[r] {
					seen[r] = true
					reasons = append(reasons, r)
				}
			}
			for _, ref := range c.Matched {
				refs = appendRef(refs, ref)
			}
		}
	}
	if len(reasons) == 0 {
		return
	}
	f.add(Finding{
		Severity:   SeverityWarning,
		Code:       FindingUnknownResult,
		Message:    "some decisions are unknown: " + strings.Join(reasons, "; "),
		Fix:        "fix the condition operator or value named above (see the IAM condition operator reference); results in those cells are not trustworthy until then",
		Statements: refs,
	})
}

// appendRef appends ref unless already present.
func appendRef(refs []StatementRef, ref StatementRef) []StatementRef {
	for _, r := range refs {
		if r.Document == ref.Document && r.Index == ref.Index {
			return refs
		}
	}
	return append(refs, ref)
}

// refList names statements for a message.
func refList(refs []StatementRef) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}

// FormatDuration renders a duration the way mfad's configuration writes it:
// "1h", "1h30m", "15m", "90s" becomes "1m30s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d%time.Second != 0 {
		return d.String()
	}
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// formatSeconds renders a number of seconds as a duration.
func formatSeconds(sec float64) string {
	return FormatDuration(time.Duration(sec * float64(time.Second)))
}
