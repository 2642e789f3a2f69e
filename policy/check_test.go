package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func TestContexts(t *testing.T) {
	ctxs := Contexts(loadDocs(t, "seed001_example3.json"))
	var names []string
	byName := map[string]map[string][]string{}
	for _, c := range ctxs {
		names = append(names, c.Name)
		byName[c.Name] = newReqContext(c.Context)
		if c.Description == "" {
			t.Errorf("%s has no description", c.Name)
		}
	}
	want := "long-term-keys console-no-mfa session-no-mfa mfa-session-age-0 mfa-session-age-3599 mfa-session-age-3601 via-aws-service"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("contexts %s, want %s", got, want)
	}
	has := func(ctx, key, value string) bool {
		v := byName[ctx][strings.ToLower(key)]
		if value == "" {
			return len(v) == 0
		}
		return len(v) == 1 && v[0] == value
	}
	checks := []struct{ ctx, key, value string }{
		{ContextLongTermKeys, KeyMFAPresent, ""},
		{ContextLongTermKeys, KeyMFAAge, ""},
		{ContextLongTermKeys, KeyViaAWSService, "false"},
		{ContextConsoleNoMFA, KeyMFAPresent, "false"},
		{ContextConsoleNoMFA, KeyMFAAge, ""},
		{ContextConsoleNoMFA, KeyViaAWSService, "false"},
		{ContextSessionNoMFA, KeyMFAPresent, "false"},
		{ContextSessionNoMFA, KeyViaAWSService, "false"},
		{ContextMFASessionFresh, KeyMFAPresent, "true"},
		{ContextMFASessionFresh, KeyMFAAge, "0"},
		{ContextMFASessionFresh, KeyViaAWSService, "false"},
		{"mfa-session-age-3599", KeyMFAAge, "3599"},
		{"mfa-session-age-3601", KeyMFAAge, "3601"},
		{"mfa-session-age-3601", KeyMFAPresent, "true"},
		{ContextViaAWSService, KeyViaAWSService, "true"},
		{ContextViaAWSService, KeyMFAPresent, "false"},
		{ContextLongTermKeys, "aws:username", ExampleUserName},
	}
	for _, c := range checks {
		if !has(c.ctx, c.key, c.value) {
			t.Errorf("%s: %s = %v, want %q", c.ctx, c.key, byName[c.ctx][strings.ToLower(c.key)], c.value)
		}
	}
	// No window: no age contexts beyond age 0.
	if n := len(Contexts(loadDocs(t, "seed003_deny_all_boolifexists.json"))); n != 5 {
		t.Errorf("contexts without a window: %d, want 5", n)
	}
	// Several windows, sorted, de-duplicated.
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NumericGreaterThanIfExists":{"aws:MultiFactorAuthAge":"7200"}}},
		{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"AWS:multifactorauthage":["900","7200"]}}}]}`)
	names = nil
	for _, c := range Contexts([]*Document{d}) {
		names = append(names, c.Name)
	}
	want = "long-term-keys console-no-mfa session-no-mfa mfa-session-age-0 mfa-session-age-899 mfa-session-age-901 mfa-session-age-7199 mfa-session-age-7201 via-aws-service"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("contexts %s, want %s", got, want)
	}
	if age, ok := SuggestMaxAge([]*Document{d}); !ok || age != 15*time.Minute {
		t.Errorf("SuggestMaxAge = %v %v, want 15m", age, ok)
	}
}

func TestCheckDefaults(t *testing.T) {
	rep := Check(loadDocs(t, "seed003_deny_all_boolifexists.json"), nil)
	if strings.Join(rep.Actions, ",") != strings.Join(DefaultActions(), ",") || len(rep.Matrix) != len(DefaultActions()) {
		t.Errorf("actions %v", rep.Actions)
	}
	for _, row := range rep.Matrix {
		if len(row.Results) != len(rep.Contexts) {
			t.Errorf("%s: %d cells for %d contexts", row.Action, len(row.Results), len(rep.Contexts))
		}
	}
	if _, ok := rep.Decision("ec2:StopInstances", "nope"); ok {
		t.Error("Decision found a context that does not exist")
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"decision":"explicit-deny"`, `"context":"long-term-keys"`, `"code":"self-service-locked"`, `"severity":"error"`, `"fix":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report JSON lacks %s", want)
		}
	}
	// Errors come first.
	last := 0
	rank := map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	for _, f := range rep.Findings {
		if rank[f.Severity] < last {
			t.Errorf("findings not ordered by severity: %+v", rep.Findings)
		}
		last = rank[f.Severity]
	}
}

func TestCheckAllowLetsLongTermKeys(t *testing.T) {
	// Static: an Allow on BoolIfExists … true.
	d := mustParse(t, `{"Version":"2012-10-17","Statement":{"Sid":"Weak","Effect":"Allow","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}}}`)
	rep := Check([]*Document{d}, nil)
	if !rep.HasFinding(FindingAllowLetsLongTermKeys) {
		t.Fatalf("no allow-lets-long-term-keys: %+v", rep.Findings)
	}
	if got, _ := rep.Decision("ec2:StopInstances", ContextLongTermKeys); got != Allowed {
		t.Errorf("long-term keys: %s, want allowed", got)
	}
	if got, _ := rep.Decision("ec2:StopInstances", ContextConsoleNoMFA); got != ImplicitDeny {
		t.Errorf("console without MFA: %s, want implicit-deny", got)
	}
	// Dynamic only: long-term keys allowed while console users without MFA are not.
	d = mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"Null":{"aws:MultiFactorAuthPresent":"true"}}}}`)
	rep = Check([]*Document{d}, nil)
	if !rep.HasFinding(FindingAllowLetsLongTermKeys) {
		t.Errorf("no dynamic allow-lets-long-term-keys: %+v", rep.Findings)
	}
}

func TestCheckLongTermKeysBypass(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"StringEquals":{"aws:MultiFactorAuthPresent":"false"}}}}`)
	rep := Check([]*Document{d}, nil)
	if !rep.HasFinding(FindingLongTermKeysBypass) || rep.HasFinding(FindingBoolPitfall) {
		t.Errorf("findings %+v", rep.Findings)
	}
}

func TestCheckUnknown(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":{"Sid":"Typo","Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExist":{"aws:MultiFactorAuthPresent":"false"}}}}`)
	rep := Check([]*Document{d}, nil)
	if !rep.HasFinding(FindingUnknownResult) {
		t.Fatalf("no unknown-result: %+v", rep.Findings)
	}
	if got, _ := rep.Decision("ec2:StopInstances", ContextLongTermKeys); got != Unknown {
		t.Errorf("got %s, want unknown", got)
	}
	// Unknown cells must not feed the MFA findings.
	if rep.HasFinding(FindingNoMFAEnforcement) || rep.HasFinding(FindingSelfServiceLocked) {
		t.Errorf("findings drawn from unknown results: %+v", rep.Findings)
	}
}

func TestTemplate(t *testing.T) {
	for _, maxAge := range []time.Duration{0, time.Hour, 90 * time.Minute} {
		raw := Template(maxAge)
		if !json.Valid(raw) || !strings.Contains(string(raw), "\n  ") {
			t.Fatalf("template is not indented JSON:\n%s", raw)
		}
		d, err := Parse(raw)
		if err != nil {
			t.Fatalf("template does not parse: %v", err)
		}
		docs := []*Document{d}
		rep := Check(docs, append(DefaultActions(), "iam:ResyncMFADevice", "iam:DeleteUser"))
		for _, bad := range []string{FindingBoolPitfall, FindingSelfServiceLocked, FindingNoMFAEnforcement, FindingAllowLetsLongTermKeys, FindingLongTermKeysBypass, FindingViaAWSServiceDenied, FindingUnknownResult} {
			if rep.HasFinding(bad) {
				t.Errorf("template(%v) has finding %s: %+v", maxAge, bad, rep.Findings)
			}
		}
		if got := rep.HasFinding(FindingMFAAgeWindow); got != (maxAge > 0) {
			t.Errorf("template(%v): mfa-age-window finding %v", maxAge, got)
		}
		age, ok := SuggestMaxAge(docs)
		if ok != (maxAge > 0) || age != maxAge {
			t.Errorf("template(%v): SuggestMaxAge = %v %v", maxAge, age, ok)
		}
		if !strings.Contains(string(raw), `"arn:aws:iam::*:user/${aws:username}"`) || !strings.Contains(string(raw), `"BoolIfExists"`) || !strings.Contains(string(raw), `"NotAction"`) {
			t.Errorf("template lacks the expected elements:\n%s", raw)
		}
		for _, ctx := range []string{ContextLongTermKeys, ContextConsoleNoMFA, ContextSessionNoMFA} {
			if got, _ := rep.Decision("ec2:StopInstances", ctx); got != ExplicitDeny {
				t.Errorf("template(%v): ec2:StopInstances in %s = %s, want explicit-deny", maxAge, ctx, got)
			}
			for _, a := range SelfServiceActions() {
				if r := Evaluate(docs, Request{Action: a, Context: contextNamed(rep, ctx)}); r.Decision != Allowed {
					t.Errorf("template(%v): %s in %s = %s, want allowed", maxAge, a, ctx, r.Decision)
				}
			}
		}
		for _, ctx := range []string{ContextMFASessionFresh, ContextViaAWSService} {
			if got, _ := rep.Decision("ec2:StopInstances", ctx); got == ExplicitDeny {
				t.Errorf("template(%v): ec2:StopInstances in %s is denied", maxAge, ctx)
			}
		}
		if maxAge > 0 {
			secs := int64(maxAge / time.Second)
			old := MFASessionContextName(float64(secs + 1))
			young := MFASessionContextName(float64(secs - 1))
			if got, _ := rep.Decision("ec2:StopInstances", old); got != ExplicitDeny {
				t.Errorf("template(%v): %s = %s, want explicit-deny", maxAge, old, got)
			}
			if got, _ := rep.Decision("ec2:StopInstances", young); got == ExplicitDeny {
				t.Errorf("template(%v): %s denied", maxAge, young)
			}
			// An expired MFA session can still renew itself.
			for _, a := range SelfServiceActions() {
				if got, _ := rep.Decision(a, old); got != Allowed && got != ImplicitDeny {
					t.Errorf("template(%v): %s in %s = %s", maxAge, a, old, got)
				}
				if r := Evaluate(docs, Request{Action: a, Context: contextNamed(rep, old)}); r.Decision != Allowed {
					t.Errorf("template(%v): %s with an old MFA = %s, want allowed", maxAge, a, r.Decision)
				}
			}
		}
	}
}

// contextNamed returns a report context by name.
func contextNamed(rep Report, name string) map[string][]string {
	for _, c := range rep.Contexts {
		if c.Name == name {
			return c.Context
		}
	}
	return nil
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                      "1h",
		90 * time.Minute:               "1h30m",
		15 * time.Minute:               "15m",
		90 * time.Second:               "1m30s",
		12*time.Hour + 5*time.Second:   "12h5s",
		0:                              "0s",
		1500 * time.Millisecond:        "1.5s",
		3600*time.Second + time.Minute: "1h1m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestCheckBoolPitfallCovered: a Bool Deny next to a BoolIfExists Deny is
// still reported, but as a warning, since long-term keys are denied anyway.
func TestCheckBoolPitfallCovered(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Weak","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}},
		{"Sid":"Strong","Effect":"Deny","NotAction":["iam:*","sts:GetSessionToken"],"Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`)
	rep := Check([]*Document{d}, []string{"ec2:StopInstances"})
	found := false
	for _, f := range rep.Findings {
		if f.Code == FindingBoolPitfall {
			found = true
			if f.Severity != SeverityWarning || len(f.Statements) != 1 || f.Statements[0].Sid != "Weak" {
				t.Errorf("bool-pitfall %+v", f)
			}
		}
	}
	if !found {
		t.Errorf("no bool-pitfall: %+v", rep.Findings)
	}
}
