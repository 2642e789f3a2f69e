package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseShapes(t *testing.T) {
	one, err := Parse([]byte(`{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"S","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Principal":{"AWS":"*"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if one.Version != Version2012 || one.ID != "x" || len(one.Statements) != 1 {
		t.Fatalf("got %+v", one)
	}
	st := one.Statements[0]
	if st.Sid != "S" || st.Effect != Allow || !reflect.DeepEqual(st.Action, []string{"s3:GetObject"}) || !reflect.DeepEqual(st.Resource, []string{"*"}) {
		t.Errorf("statement %+v", st)
	}

	list, err := Parse([]byte(`{"Version":"2008-10-17","Statement":[
		{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:s3:::x",
		 "Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"n":[1,2.5]},"StringEquals":{"s":["a","b"]}}},
		{"Effect":"Allow","Action":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Statements) != 2 || list.Statements[1].Index != 1 {
		t.Fatalf("got %+v", list)
	}
	conds := list.Statements[0].Conditions
	want := []Condition{
		{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"false"}},
		{Operator: "NumericLessThan", Key: "n", Values: []string{"1", "2.5"}},
		{Operator: "StringEquals", Key: "s", Values: []string{"a", "b"}},
	}
	if !reflect.DeepEqual(conds, want) {
		t.Errorf("conditions %+v, want %+v", conds, want)
	}
	if !reflect.DeepEqual(list.Statements[0].NotAction, []string{"iam:*", "sts:*"}) || !reflect.DeepEqual(list.Statements[0].NotResource, []string{"arn:aws:s3:::x"}) {
		t.Errorf("statement %+v", list.Statements[0])
	}

	// A bare statement, as policies are often quoted.
	bare, err := Parse([]byte(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if bare.Version != "" || len(bare.Statements) != 1 || bare.Statements[0].Effect != Allow {
		t.Errorf("bare %+v", bare)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		src  string
		want []string // substrings of the error
	}{
		{`not json`, []string{"not a JSON object"}},
		{`[]`, []string{"not a JSON object"}},
		{`{"Version":"2012-10-17"}`, []string{"no Statement"}},
		{`{"Version":"2012-10-17","Statement":[]}`, []string{"empty"}},
		{`{"Version":"2012-10-17","Statement":"x"}`, []string{"Statement must be an object or a list"}},
		{`{"Version":"2012-10-18","Statement":[]}`, []string{`unsupported Version "2012-10-18"`, "2012-10-17"}},
		{`{"Version":"2012-10-17","Statements":[]}`, []string{`unknown policy element "Statements"`}},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}} trailing`, []string{"after the JSON object"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"},{"Sid":"Two","Effect":"allow","Action":"*"}]}`, []string{`Statement[1] (Sid "Two")`, `Effect "allow"`, `"Allow" or "Deny"`}},
		{`{"Version":"2012-10-17","Statement":[{"Action":"*"}]}`, []string{"Statement[0]", "missing Effect"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Resource":"*"}]}`, []string{"Statement[0]", "missing Action"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","NotAction":"iam:*"}]}`, []string{"both Action and NotAction"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","NotResource":"x"}]}`, []string{"both Resource and NotResource"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":[],"Resource":"*"}]}`, []string{"Action", "empty list"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":7,"Resource":"*"}]}`, []string{"Action", "string or a list of strings"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condtion":{}}]}`, []string{`unknown element "Condtion"`}},
		{`{"Version":"2012-10-17","Statement":[{"Sid":"C","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":"x"}}]}`, []string{`Statement[0] (Sid "C")`, "Condition"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"k":null}}}]}`, []string{"Bool k", "string, boolean or number"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"k":[]}}}]}`, []string{"Bool k", "empty value list"}},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{}}}]}`, []string{"Bool has no keys"}},
		{`{"Version":"2012-10-17","Statement":[{"Sid":5,"Effect":"Deny","Action":"*"}]}`, []string{"Statement[0]", "Sid must be a string"}},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.src))
		if err == nil {
			t.Errorf("%s: no error", tc.src)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.src, err, w)
			}
		}
	}
}

func TestParseUnknownOperatorIsNotAParseError(t *testing.T) {
	if _, err := Parse([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}}`)); err != nil {
		t.Errorf("an unknown operator must parse (and evaluate to unknown): %v", err)
	}
}

func TestParseFile(t *testing.T) {
	d, err := ParseFile(filepath.Join("testdata", "seed003_deny_all_boolifexists.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(d.Source, "seed003_deny_all_boolifexists.json") {
		t.Errorf("source %q", d.Source)
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := ParseFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"Statement":[{"Effect":"Maybe","Action":"*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "Maybe") {
		t.Errorf("bad file: %v", err)
	}
}

func TestParseVariable(t *testing.T) {
	cases := []struct {
		in           string
		name, def    string
		hasDef, ok   bool
		consumedRest string
	}{
		{"aws:username}/x", "aws:username", "", false, true, "/x"},
		{" aws:username }", "aws:username", "", false, true, ""},
		{"aws:username, 'anon'}x", "aws:username", "anon", true, true, "x"},
		{"k, 'a}b'}", "k", "a}b", true, true, ""},
		{"k, 'it''s'}", "k", "it's", true, true, ""},
		{"k, anon}", "", "", false, false, ""},
		{"k, 'open", "", "", false, false, ""},
		{"unterminated", "", "", false, false, ""},
		{"}", "", "", false, false, ""},
	}
	for _, tc := range cases {
		name, def, hasDef, n, ok := parseVariable(tc.in)
		if ok != tc.ok || name != tc.name || def != tc.def || hasDef != tc.hasDef || (ok && tc.in[n:] != tc.consumedRest) {
			t.Errorf("parseVariable(%q) = %q %q %v %d %v", tc.in, name, def, hasDef, n, ok)
		}
	}
	// A malformed variable leaves the value unresolved (it matches nothing).
	if e := expand("a/${k", reqContext{"k": {"v"}}, true); e.unresolved == "" {
		t.Errorf("expand of a malformed variable resolved: %+v", e)
	}
}
