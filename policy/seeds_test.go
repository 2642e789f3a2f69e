package policy

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedKinds returns the five request kinds every seed policy is checked in,
// in the order the expectation strings below use.
func seedKinds() []string {
	return []string{"long-term-keys", "console-no-mfa", "mfa-fresh", "mfa-old", "via-aws-service"}
}

// seedContext returns the request context for one of seedKinds, built from
// the documented facts (not from Contexts, which is tested separately).
func seedContext(kind string) map[string][]string {
	c := map[string][]string{"aws:username": {"alice"}, "aws:ViaAWSService": {"false"}}
	switch kind {
	case "long-term-keys":
	case "console-no-mfa":
		c["aws:MultiFactorAuthPresent"] = []string{"false"}
	case "mfa-fresh":
		c["aws:MultiFactorAuthPresent"] = []string{"true"}
		c["aws:MultiFactorAuthAge"] = []string{"30"}
	case "mfa-old":
		c["aws:MultiFactorAuthPresent"] = []string{"true"}
		c["aws:MultiFactorAuthAge"] = []string{"7200"}
	case "via-aws-service":
		c["aws:ViaAWSService"] = []string{"true"}
		c["aws:MultiFactorAuthPresent"] = []string{"false"}
	}
	return c
}

// letter abbreviates a decision for the expectation strings.
func letter(d Decision) string {
	switch d {
	case Allowed:
		return "A"
	case ExplicitDeny:
		return "E"
	case ImplicitDeny:
		return "I"
	}
	return "U"
}

func loadDocs(t *testing.T, names ...string) []*Document {
	t.Helper()
	var docs []*Document
	for _, n := range names {
		d, err := ParseFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatalf("parse %s: %v", n, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestSeedPolicies encodes every policy of the seed documents with the
// decision expected in each request kind. Expectations read
// "long-term-keys console-no-mfa mfa-fresh mfa-old via-aws-service" with
// A = allowed, E = explicit-deny, I = implicit-deny.
func TestSeedPolicies(t *testing.T) {
	type want struct {
		action, resource, decisions string
	}
	cases := []struct {
		file  string
		wants []want
	}{
		// 000: the Bool version lets long-term keys through (the key is
		// missing and Bool does not match); console users without MFA are denied.
		{"seed000_bool.json", []want{
			{"ec2:StopInstances", "", "I E I I I"},
			{"s3:ListAllMyBuckets", "", "I E I I I"},
			{"sts:GetSessionToken", "", "I I I I I"},
			{"iam:EnableMFADevice", "", "I I I I I"},
		}},
		// 000: BoolIfExists denies long-term keys too; aws:ViaAWSService=false
		// is ANDed in, so services acting for the user are not denied.
		{"seed000_boolifexists.json", []want{
			{"ec2:StopInstances", "", "E E I I I"},
			{"s3:ListAllMyBuckets", "", "E E I I I"},
			{"sts:GetSessionToken", "", "I I I I I"},
			{"iam:CreateVirtualMFADevice", "", "I I I I I"},
			{"IAM:listmfadevices", "", "I I I I I"},
		}},
		// 001 example 1: Allow ec2:* only within an hour of MFA; long-term
		// keys have no aws:MultiFactorAuthAge, so NumericLessThan fails.
		{"seed001_example1.json", []want{
			{"ec2:DescribeInstances", "", "I I A I I"},
			{"ec2:StopInstances", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", "I I A I I"},
			{"s3:ListAllMyBuckets", "", "I I I I I"},
		}},
		// 001 example 2: Stop/Terminate denied without MFA (BoolIfExists).
		{"seed001_example2.json", []want{
			{"ec2:DescribeInstances", "", "A A A A A"},
			{"ec2:StopInstances", "", "E E A A E"},
			{"ec2:TerminateInstances", "", "E E A A E"},
		}},
		// 001 example 3: plus a Deny when the MFA is older than an hour.
		{"seed001_example3.json", []want{
			{"ec2:DescribeInstances", "", "A A A A A"},
			{"ec2:StopInstances", "", "E E A E E"},
			{"ec2:TerminateInstances", "", "E E A E E"},
		}},
		// 002: the self-manage policy with BoolIfExists. NotAction iam:*
		// leaves IAM self-service alone but denies sts:GetSessionToken.
		{"seed002_selfmanage_boolifexists.json", []want{
			{"ec2:StopInstances", "", "E E I I E"},
			{"sts:GetSessionToken", "", "E E I I E"},
			{"iam:ListUsers", "", "A A A A A"},
			{"iam:EnableMFADevice", "", "A A A A A"},
			{"iam:EnableMFADevice", "arn:aws:iam::accountid:user/alice", "A A A A A"},
			{"iam:EnableMFADevice", "arn:aws:iam::accountid:user/bob", "I I I I I"},
			{"iam:CreateVirtualMFADevice", "arn:aws:iam::accountid:mfa/alice", "A A A A A"},
			{"iam:ListMFADevices", "arn:aws:iam::accountid:mfa/anything", "A A A A A"},
		}},
		// 002: the same policy with Bool: long-term keys bypass the Deny.
		{"seed002_selfmanage_bool.json", []want{
			{"ec2:StopInstances", "", "I E I I E"},
			{"sts:GetSessionToken", "", "I E I I E"},
			{"iam:EnableMFADevice", "arn:aws:iam::accountid:user/alice", "A A A A A"},
		}},
		// 002: Josh Hancock's policy (Bool): same bypass.
		{"seed002_hancock_bool.json", []want{
			{"ec2:StopInstances", "", "I E I I E"},
			{"iam:ListUsers", "", "A A A A A"},
			{"iam:ListUsers", "arn:aws:iam::accountid:user/anyone", "A A A A A"},
			{"iam:GetAccountSummary", "arn:aws:iam::accountid:user/alice", "A A A A A"},
			{"iam:GetAccountSummary", "arn:aws:iam::accountid:user/bob", "I I I I I"},
			{"iam:EnableMFADevice", "", "A A A A A"},
		}},
		// 002: the original question: Allow * with Bool true. Long-term keys
		// are implicitly denied; only MFA sessions get anything.
		{"seed002_original_allow_bool_true.json", []want{
			{"ec2:StopInstances", "", "I I A A I"},
			{"s3:ListAllMyBuckets", "", "I I A A I"},
			{"iam:EnableMFADevice", "", "I I A A I"},
		}},
		// 003: Deny * with BoolIfExists false.
		{"seed003_deny_all_boolifexists.json", []want{
			{"ec2:DescribeInstances", "", "E E I I E"},
			{"sts:GetSessionToken", "", "E E I I E"},
			{"iam:EnableMFADevice", "", "E E I I E"},
		}},
	}
	for _, tc := range cases {
		docs := loadDocs(t, tc.file)
		for _, w := range tc.wants {
			var got []string
			for _, kind := range seedKinds() {
				r := Evaluate(docs, Request{Action: w.action, Resource: w.resource, Context: seedContext(kind)})
				got = append(got, letter(r.Decision))
			}
			if g := strings.Join(got, " "); g != w.decisions {
				t.Errorf("%s %s %q: got %s, want %s (%s)", tc.file, w.action, w.resource, g, w.decisions, strings.Join(seedKinds(), " "))
			}
		}
	}
}

// TestSeedMFAWindowEdges checks the one-hour windows of example 1 and 3
// around 3600 seconds.
func TestSeedMFAWindowEdges(t *testing.T) {
	age := func(a string) map[string][]string {
		return map[string][]string{"aws:MultiFactorAuthPresent": {"true"}, "aws:MultiFactorAuthAge": {a}, "aws:ViaAWSService": {"false"}}
	}
	ex1 := loadDocs(t, "seed001_example1.json")
	ex3 := loadDocs(t, "seed001_example3.json")
	for _, tc := range []struct {
		age      string
		ex1, ex3 Decision
	}{
		{"0", Allowed, Allowed},
		{"3599", Allowed, Allowed},
		{"3600", ImplicitDeny, Allowed}, // NumericLessThan 3600 fails; NumericGreaterThan 3600 does not match
		{"3601", ImplicitDeny, ExplicitDeny},
	} {
		if got := Evaluate(ex1, Request{Action: "ec2:StopInstances", Context: age(tc.age)}).Decision; got != tc.ex1 {
			t.Errorf("example 1 at age %s: got %s, want %s", tc.age, got, tc.ex1)
		}
		if got := Evaluate(ex3, Request{Action: "ec2:StopInstances", Context: age(tc.age)}).Decision; got != tc.ex3 {
			t.Errorf("example 3 at age %s: got %s, want %s", tc.age, got, tc.ex3)
		}
	}
}

// TestSeedMatched checks that the deciding statements are reported.
func TestSeedMatched(t *testing.T) {
	docs := loadDocs(t, "seed001_example3.json")
	r := Evaluate(docs, Request{Action: "ec2:StopInstances", Context: seedContext("long-term-keys")})
	if r.Decision != ExplicitDeny || len(r.Matched) != 2 {
		t.Fatalf("got %+v, want explicit-deny by two statements", r)
	}
	if r.Matched[0].Sid != "DenyStopAndTerminateWhenMFAIsNotPresent" || r.Matched[1].Sid != "DenyStopAndTerminateWhenMFAIsOlderThanOneHour" {
		t.Errorf("matched %+v", r.Matched)
	}
	if r.Matched[0].Index != 1 || r.Matched[0].Effect != Deny || !strings.HasSuffix(r.Matched[0].File, "seed001_example3.json") {
		t.Errorf("matched ref %+v", r.Matched[0])
	}
	r = Evaluate(docs, Request{Action: "ec2:StopInstances", Context: seedContext("mfa-fresh")})
	if r.Decision != Allowed || len(r.Matched) != 1 || r.Matched[0].Sid != "AllowAllActionsForEC2" {
		t.Errorf("got %+v, want allowed by AllowAllActionsForEC2", r)
	}
	r = Evaluate(docs, Request{Action: "s3:ListAllMyBuckets", Context: seedContext("mfa-fresh")})
	if r.Decision != ImplicitDeny || len(r.Matched) != 0 {
		t.Errorf("got %+v, want implicit-deny with no statements", r)
	}
}

// TestSeedChecks runs Check on every seed policy and looks at the findings.
func TestSeedChecks(t *testing.T) {
	cases := []struct {
		file     string
		want     []string
		dontWant []string
		maxAge   time.Duration
	}{
		{"seed000_bool.json", []string{FindingBoolPitfall, FindingNoMFAEnforcement}, []string{FindingSelfServiceLocked, FindingViaAWSServiceDenied, FindingMFAAgeWindow}, 0},
		{"seed000_boolifexists.json", nil, []string{FindingBoolPitfall, FindingNoMFAEnforcement, FindingSelfServiceLocked, FindingViaAWSServiceDenied, FindingAllowLetsLongTermKeys}, 0},
		{"seed001_example1.json", []string{FindingMFAAgeWindow}, []string{FindingBoolPitfall, FindingNoMFAEnforcement, FindingSelfServiceLocked}, time.Hour},
		{"seed001_example2.json", []string{FindingViaAWSServiceDenied}, []string{FindingBoolPitfall, FindingNoMFAEnforcement, FindingSelfServiceLocked, FindingMFAAgeWindow}, 0},
		{"seed001_example3.json", []string{FindingMFAAgeWindow}, []string{FindingBoolPitfall, FindingNoMFAEnforcement, FindingSelfServiceLocked}, time.Hour},
		{"seed002_selfmanage_boolifexists.json", []string{FindingSelfServiceLocked}, []string{FindingBoolPitfall, FindingNoMFAEnforcement}, 0},
		{"seed002_selfmanage_bool.json", []string{FindingBoolPitfall, FindingSelfServiceLocked}, nil, 0},
		{"seed002_hancock_bool.json", []string{FindingBoolPitfall}, []string{FindingAllowLetsLongTermKeys}, 0},
		{"seed002_original_allow_bool_true.json", []string{FindingSelfServiceLocked}, []string{FindingBoolPitfall, FindingNoMFAEnforcement, FindingAllowLetsLongTermKeys}, 0},
		{"seed003_deny_all_boolifexists.json", []string{FindingSelfServiceLocked, FindingViaAWSServiceDenied}, []string{FindingBoolPitfall, FindingNoMFAEnforcement}, 0},
	}
	for _, tc := range cases {
		docs := loadDocs(t, tc.file)
		rep := Check(docs, nil)
		for _, code := range tc.want {
			if !rep.HasFinding(code) {
				t.Errorf("%s: missing finding %s; got %+v", tc.file, code, rep.Findings)
			}
		}
		for _, code := range tc.dontWant {
			if rep.HasFinding(code) {
				t.Errorf("%s: unexpected finding %s; got %+v", tc.file, code, rep.Findings)
			}
		}
		age, ok := SuggestMaxAge(docs)
		if ok != (tc.maxAge > 0) || age != tc.maxAge {
			t.Errorf("%s: SuggestMaxAge = %v, %v; want %v", tc.file, age, ok, tc.maxAge)
		}
		for _, f := range rep.Findings {
			if f.Message == "" || f.Fix == "" || f.Severity == "" {
				t.Errorf("%s: finding %s lacks message, fix or severity: %+v", tc.file, f.Code, f)
			}
		}
	}
}

// TestSeedSelfServiceSeverity: a policy that only denies sts:GetSessionToken
// (which AWS does not subject to policies) warns; one that blocks MFA device
// set-up is an error.
func TestSeedSelfServiceSeverity(t *testing.T) {
	for file, want := range map[string]Severity{
		"seed002_selfmanage_boolifexists.json":  SeverityWarning,
		"seed002_original_allow_bool_true.json": SeverityError,
		"seed003_deny_all_boolifexists.json":    SeverityError,
	} {
		rep := Check(loadDocs(t, file), nil)
		for _, f := range rep.Findings {
			if f.Code == FindingSelfServiceLocked && f.Severity != want {
				t.Errorf("%s: self-service-locked severity %s, want %s: %s", file, f.Severity, want, f.Message)
			}
		}
	}
}

// TestSeedCheckMatrix checks the matrix Check builds for example 3, including
// the window contexts derived from its 3600-second limit.
func TestSeedCheckMatrix(t *testing.T) {
	rep := Check(loadDocs(t, "seed001_example3.json"), []string{"ec2:StopInstances", "ec2:DescribeInstances"})
	want := map[string]Decision{
		ContextLongTermKeys:    ExplicitDeny,
		ContextConsoleNoMFA:    ExplicitDeny,
		ContextSessionNoMFA:    ExplicitDeny,
		ContextMFASessionFresh: Allowed,
		"mfa-session-age-3599": Allowed,
		"mfa-session-age-3601": ExplicitDeny,
		ContextViaAWSService:   ExplicitDeny,
	}
	if len(rep.Contexts) != len(want) {
		t.Fatalf("contexts %d, want %d", len(rep.Contexts), len(want))
	}
	for ctx, d := range want {
		if got, ok := rep.Decision("ec2:StopInstances", ctx); !ok || got != d {
			t.Errorf("ec2:StopInstances in %s: got %s (%v), want %s", ctx, got, ok, d)
		}
		if got, _ := rep.Decision("ec2:DescribeInstances", ctx); got != Allowed {
			t.Errorf("ec2:DescribeInstances in %s: got %s, want allowed", ctx, got)
		}
	}
	var msg string
	for _, f := range rep.Findings {
		if f.Code == FindingMFAAgeWindow {
			msg = f.Fix
		}
	}
	if !strings.Contains(msg, "mfa_max_age: 1h") {
		t.Errorf("mfa-age-window fix %q does not suggest mfa_max_age: 1h", msg)
	}
}
