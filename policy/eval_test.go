package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// condDoc builds a one-statement Allow policy on every action and resource
// with the given Condition block (JSON).
func condDoc(t *testing.T, version, condition string) []*Document {
	t.Helper()
	v := ""
	if version != "" {
		v = fmt.Sprintf(`"Version": %q,`, version)
	}
	src := fmt.Sprintf(`{%s "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": %s}}`, v, condition)
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse %s: %v", src, err)
	}
	return []*Document{d}
}

// ctxOf builds a context from "key=value" pairs; a repeated key is multi-valued.
func ctxOf(pairs ...string) map[string][]string {
	m := map[string][]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = append(m[k], v)
	}
	return m
}

func TestConditionOperators(t *testing.T) {
	const (
		A = Allowed
		I = ImplicitDeny
		U = Unknown
	)
	cases := []struct {
		cond string
		ctx  []string
		want Decision
	}{
		// String operators.
		{`{"StringEquals": {"k": "abc"}}`, []string{"k=abc"}, A},
		{`{"StringEquals": {"k": "abc"}}`, []string{"k=ABC"}, I},
		{`{"StringEquals": {"k": "abc"}}`, nil, I},
		{`{"StringEquals": {"k": ["x", "abc"]}}`, []string{"k=abc"}, A},
		{`{"StringEquals": {"k": "a*"}}`, []string{"k=abc"}, I},
		{`{"StringNotEquals": {"k": "abc"}}`, []string{"k=abc"}, I},
		{`{"StringNotEquals": {"k": "abc"}}`, []string{"k=xyz"}, A},
		{`{"StringNotEquals": {"k": "abc"}}`, nil, A},
		{`{"StringNotEquals": {"k": ["abc", "xyz"]}}`, []string{"k=xyz"}, I},
		{`{"StringNotEquals": {"k": ["abc", "xyz"]}}`, []string{"k=other"}, A},
		{`{"StringEqualsIgnoreCase": {"k": "ABC"}}`, []string{"k=abc"}, A},
		{`{"StringEqualsIgnoreCase": {"k": "ABC"}}`, nil, I},
		{`{"StringNotEqualsIgnoreCase": {"k": "ABC"}}`, []string{"k=abc"}, I},
		{`{"StringNotEqualsIgnoreCase": {"k": "ABC"}}`, []string{"k=abd"}, A},
		{`{"StringNotEqualsIgnoreCase": {"k": "ABC"}}`, nil, A},
		{`{"StringLike": {"k": "ab*"}}`, []string{"k=abc"}, A},
		{`{"StringLike": {"k": "a?c"}}`, []string{"k=abc"}, A},
		{`{"StringLike": {"k": "a?c"}}`, []string{"k=abbc"}, I},
		{`{"StringLike": {"k": "AB*"}}`, []string{"k=abc"}, I},
		{`{"StringLike": {"k": "ab*"}}`, nil, I},
		{`{"StringNotLike": {"k": "ab*"}}`, []string{"k=xyz"}, A},
		{`{"StringNotLike": {"k": "ab*"}}`, []string{"k=abc"}, I},
		{`{"StringNotLike": {"k": "ab*"}}`, nil, A},
		{`{"StringEqualsIfExists": {"k": "abc"}}`, nil, A},
		{`{"StringEqualsIfExists": {"k": "abc"}}`, []string{"k=xyz"}, I},
		{`{"StringEqualsIfExists": {"k": "abc"}}`, []string{"k=abc"}, A},
		{`{"StringNotEqualsIfExists": {"k": "abc"}}`, nil, A},
		{`{"StringNotEqualsIfExists": {"k": "abc"}}`, []string{"k=abc"}, I},
		{`{"StringLikeIfExists": {"k": "t2.*"}}`, []string{"k=m5.large"}, I},
		// Numeric operators.
		{`{"NumericEquals": {"k": "10"}}`, []string{"k=10.0"}, A},
		{`{"NumericEquals": {"k": 10}}`, []string{"k=11"}, I},
		{`{"NumericEquals": {"k": "10"}}`, nil, I},
		{`{"NumericNotEquals": {"k": "10"}}`, []string{"k=10"}, I},
		{`{"NumericNotEquals": {"k": "10"}}`, []string{"k=11"}, A},
		{`{"NumericNotEquals": {"k": "10"}}`, nil, A},
		{`{"NumericLessThan": {"k": "10"}}`, []string{"k=9"}, A},
		{`{"NumericLessThan": {"k": "10"}}`, []string{"k=10"}, I},
		{`{"NumericLessThan": {"k": "10"}}`, nil, I},
		{`{"NumericLessThanIfExists": {"k": "10"}}`, nil, A},
		{`{"NumericLessThanEquals": {"k": "10"}}`, []string{"k=10"}, A},
		{`{"NumericLessThanEquals": {"k": "10"}}`, []string{"k=10.5"}, I},
		{`{"NumericGreaterThan": {"k": "10"}}`, []string{"k=11"}, A},
		{`{"NumericGreaterThan": {"k": "10"}}`, []string{"k=10"}, I},
		{`{"NumericGreaterThanIfExists": {"k": "10"}}`, nil, A},
		{`{"NumericGreaterThanEquals": {"k": "10"}}`, []string{"k=10"}, A},
		{`{"NumericGreaterThanEquals": {"k": "10"}}`, []string{"k=9"}, I},
		{`{"NumericLessThan": {"k": "abc"}}`, []string{"k=1"}, U},
		{`{"NumericLessThanIfExists": {"k": "abc"}}`, nil, U},
		{`{"NumericLessThan": {"k": "10"}}`, []string{"k=ten"}, U},
		// Date operators: ISO 8601 and epoch seconds.
		{`{"DateLessThan": {"k": "2020-01-01T00:00:00Z"}}`, []string{"k=2019-12-31T23:59:59Z"}, A},
		{`{"DateLessThan": {"k": "2020-01-01T00:00:00Z"}}`, []string{"k=1577836800"}, I},
		{`{"DateLessThanEquals": {"k": "2020-01-01T00:00:00Z"}}`, []string{"k=1577836800"}, A},
		{`{"DateEquals": {"k": "2020-01-01"}}`, []string{"k=2020-01-01T00:00:00Z"}, A},
		{`{"DateEquals": {"k": "2020-01-01T09:00:00+09:00"}}`, []string{"k=2020-01-01T00:00:00Z"}, A},
		{`{"DateNotEquals": {"k": "2020-01-01"}}`, []string{"k=2020-01-01T00:00:00Z"}, I},
		{`{"DateNotEquals": {"k": "2020-01-01"}}`, nil, A},
		{`{"DateGreaterThan": {"k": "1577836800"}}`, []string{"k=2020-06-01T00:00:00+02:00"}, A},
		{`{"DateGreaterThan": {"k": 1577836800}}`, []string{"k=2019-06-01T00:00:00Z"}, I},
		{`{"DateGreaterThanEquals": {"k": "2020-01-01T00:00Z"}}`, []string{"k=2020-01-01T00:00:00Z"}, A},
		{`{"DateGreaterThan": {"k": "2020-01-01"}}`, nil, I},
		{`{"DateGreaterThanIfExists": {"k": "2020-01-01"}}`, nil, A},
		{`{"DateLessThan": {"k": "yesterday"}}`, []string{"k=2020-01-01"}, U},
		// Bool.
		{`{"Bool": {"k": "true"}}`, []string{"k=true"}, A},
		{`{"Bool": {"k": true}}`, []string{"k=TRUE"}, A},
		{`{"Bool": {"k": "true"}}`, []string{"k=false"}, I},
		{`{"Bool": {"k": "false"}}`, nil, I},
		{`{"BoolIfExists": {"k": "false"}}`, nil, A},
		{`{"BoolIfExists": {"k": false}}`, []string{"k=false"}, A},
		{`{"BoolIfExists": {"k": "false"}}`, []string{"k=true"}, I},
		{`{"Bool": {"k": "maybe"}}`, []string{"k=true"}, U},
		// Binary.
		{`{"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, []string{"k=QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, A},
		{`{"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, []string{"k=BinaryValueInBase64"}, A},
		{`{"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, []string{"k=b3RoZXI="}, I},
		{`{"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, nil, I},
		{`{"BinaryEqualsIfExists": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, nil, A},
		{`{"BinaryEquals": {"k": "!!not base64"}}`, []string{"k=x"}, U},
		// IP addresses.
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, []string{"aws:SourceIp=203.0.113.7"}, A},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, []string{"aws:SourceIp=198.51.100.1"}, I},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.7"}}`, []string{"aws:SourceIp=203.0.113.7"}, A},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.7"}}`, []string{"aws:SourceIp=203.0.113.8"}, I},
		{`{"IpAddress": {"aws:SourceIp": ["198.51.100.0/24", "2001:DB8:1234:5678::/64"]}}`, []string{"aws:SourceIp=2001:db8:1234:5678::1"}, A},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, nil, I},
		{`{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, []string{"aws:SourceIp=198.51.100.1"}, A},
		{`{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, []string{"aws:SourceIp=203.0.113.7"}, I},
		{`{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, nil, A},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.0/33"}}`, []string{"aws:SourceIp=203.0.113.7"}, U},
		{`{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, []string{"aws:SourceIp=somewhere"}, U},
		// ARN operators: component-wise matching.
		{`{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}}`, []string{"aws:SourceArn=arn:aws:sns:us-east-1:123456789012:topic-a"}, A},
		{`{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}}`, []string{"aws:SourceArn=arn:aws:sns:us-east-1:123456789012:topic-a"}, A},
		{`{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}`, []string{"aws:SourceArn=arn:aws:sns:us-east-1:999999999999:topic"}, I},
		{`{"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}`, []string{"aws:SourceArn=arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, I},
		{`{"StringLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}`, []string{"aws:SourceArn=arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, A},
		{`{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket/a:b*"}}`, []string{"aws:SourceArn=arn:aws:s3:::bucket/a:bc"}, A},
		{`{"ArnLike": {"aws:SourceArn": "*"}}`, []string{"aws:SourceArn=arn:aws:s3:::bucket"}, A},
		{`{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic"}}`, nil, I},
		{`{"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}`, []string{"aws:SourceArn=arn:aws:sns:us-east-1:999999999999:t"}, A},
		{`{"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}`, []string{"aws:SourceArn=arn:aws:sns:us-east-1:123456789012:t"}, I},
		{`{"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}`, nil, A},
		{`{"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}`, nil, A},
		{`{"ArnNotEqualsIfExists": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}`, nil, A},
		// Null.
		{`{"Null": {"aws:TokenIssueTime": "true"}}`, nil, A},
		{`{"Null": {"aws:TokenIssueTime": "true"}}`, []string{"aws:TokenIssueTime=2020-01-01T00:00:00Z"}, I},
		{`{"Null": {"aws:TokenIssueTime": false}}`, []string{"aws:TokenIssueTime=2020-01-01T00:00:00Z"}, A},
		{`{"Null": {"aws:TokenIssueTime": "false"}}`, nil, I},
		{`{"Null": {"aws:TokenIssueTime": "maybe"}}`, nil, U},
		{`{"NullIfExists": {"aws:TokenIssueTime": "true"}}`, nil, U},
		// Set operators.
		{`{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, []string{"aws:TagKeys=a"}, A},
		{`{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, []string{"aws:TagKeys=a", "aws:TagKeys=b"}, A},
		{`{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, []string{"aws:TagKeys=a", "aws:TagKeys=c"}, I},
		{`{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, nil, A},
		{`{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, []string{"aws:TagKeys=c", "aws:TagKeys=b"}, A},
		{`{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, []string{"aws:TagKeys=c"}, I},
		{`{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}`, nil, I},
		{`{"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a", "b"]}}`, nil, A},
		// AWS's ForAllValues:StringNotLike table (multivalued context key examples).
		{`{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, []string{"aws:TagKeys=key1:legal"}, I},
		{`{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, []string{"aws:TagKeys=key1:hr", "aws:TagKeys=key1:personnel"}, I},
		{`{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, []string{"aws:TagKeys=key2:audit"}, A},
		{`{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, nil, A},
		{`{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "a"}}`, []string{"aws:TagKeys=a", "aws:TagKeys=b"}, A},
		{`{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "a"}}`, []string{"aws:TagKeys=a"}, I},
		{`{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "a"}}`, nil, I},
		{`{"ForAnyValue:NumericLessThan": {"k": "5"}}`, []string{"k=9", "k=3"}, A},
		// Plain operators on a multi-valued request key.
		{`{"StringEquals": {"k": "a"}}`, []string{"k=x", "k=a"}, A},
		{`{"StringNotEquals": {"k": "a"}}`, []string{"k=x", "k=a"}, I},
		// Key names are case-insensitive; AND across keys and operators.
		{`{"Bool": {"AWS:MultiFactorAuthPresent": "true"}}`, []string{"aws:multifactorauthpresent=true"}, A},
		{`{"Bool": {"a": "true", "b": "true"}}`, []string{"a=true", "b=false"}, I},
		{`{"Bool": {"a": "true", "b": "true"}}`, []string{"a=true", "b=true"}, A},
		{`{"Bool": {"a": "true"}, "StringEquals": {"b": "x"}}`, []string{"a=true", "b=y"}, I},
		{`{"Bool": {"a": "true"}, "StringEquals": {"b": "x"}}`, []string{"a=true", "b=x"}, A},
		// Unknown operators: never a silent match.
		{`{"StringEqualz": {"k": "abc"}}`, []string{"k=abc"}, U},
		{`{"stringequals": {"k": "abc"}}`, []string{"k=abc"}, U},
		{`{"ForSomeValues:StringEquals": {"k": "abc"}}`, []string{"k=abc"}, U},
		// …but a false condition settles the statement regardless.
		{`{"StringEqualz": {"k": "abc"}, "Bool": {"b": "true"}}`, []string{"b=false"}, I},
		{`{"StringEqualz": {"k": "abc"}, "Bool": {"b": "true"}}`, []string{"b=true"}, U},
	}
	for _, tc := range cases {
		r := Evaluate(condDoc(t, Version2012, tc.cond), Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctxOf(tc.ctx...)})
		if r.Decision != tc.want {
			t.Errorf("%s with %v: got %s, want %s (unknown: %v)", tc.cond, tc.ctx, r.Decision, tc.want, r.Unknown)
		}
		if r.Decision == Unknown && len(r.Unknown) == 0 {
			t.Errorf("%s: unknown decision without a reason", tc.cond)
		}
	}
}

func TestUnknownReasonsAndPrecedence(t *testing.T) {
	parse := func(src string) *Document {
		d, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		d.Source = "p.json"
		return d
	}
	badDeny := parse(`{"Version":"2012-10-17","Statement":[{"Sid":"Odd","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"abc"}}}]}`)
	allow := parse(`{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}`)
	deny := parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`)
	badAllow := parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringMatches":{"k":"v"}}}]}`)

	// An unknown Deny could override the Allow: unknown, with the reason.
	r := Evaluate([]*Document{allow, badDeny}, Request{Action: "s3:ListAllMyBuckets"})
	if r.Decision != Unknown || len(r.Matched) != 1 || r.Matched[0].Sid != "Odd" {
		t.Fatalf("got %+v, want unknown because of statement Odd", r)
	}
	if !strings.Contains(r.Unknown[0], `"abc"`) || !strings.Contains(r.Unknown[0], "Odd") || !strings.Contains(r.Unknown[0], "p.json") {
		t.Errorf("reason %q should name the statement, file and bad value", r.Unknown[0])
	}
	// An explicit Deny wins whatever the unknown statements would say.
	if r := Evaluate([]*Document{badDeny, deny, badAllow}, Request{Action: "ec2:StopInstances"}); r.Decision != ExplicitDeny {
		t.Errorf("got %s, want explicit-deny", r.Decision)
	}
	// An unknown Allow does not matter when another Allow applies.
	if r := Evaluate([]*Document{badAllow, allow}, Request{Action: "ec2:StopInstances"}); r.Decision != Allowed || len(r.Unknown) != 0 {
		t.Errorf("got %+v, want allowed", r)
	}
	// An unknown Allow alone leaves the decision open.
	r = Evaluate([]*Document{badAllow}, Request{Action: "ec2:StopInstances", Context: ctxOf("k=v")})
	if r.Decision != Unknown || !strings.Contains(strings.Join(r.Unknown, " "), "StringMatches") {
		t.Errorf("got %+v, want unknown naming StringMatches", r)
	}
	// An unknown statement whose action does not match is irrelevant.
	narrow := parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*","Condition":{"Foo":{"k":"v"}}}]}`)
	if r := Evaluate([]*Document{narrow, allow}, Request{Action: "ec2:StopInstances"}); r.Decision != Allowed {
		t.Errorf("got %s, want allowed", r.Decision)
	}
}

func TestActionMatching(t *testing.T) {
	cases := []struct {
		patterns string
		not      bool
		action   string
		want     bool
	}{
		{`"ec2:Describe*"`, false, "EC2:describeinstances", true},
		{`"ec2:?topInstances"`, false, "ec2:StopInstances", true},
		{`"ec2:?topInstances"`, false, "ec2:StartInstances", false},
		{`"iam:*AccessKey*"`, false, "iam:CreateAccessKey", true},
		{`"e*:Describe*"`, false, "ec2:DescribeVolumes", true},
		{`"*:Get*"`, false, "s3:GetObject", true},
		{`"s?:Get*"`, false, "s3:GetObject", true},
		{`"s?:Get*"`, false, "sts:GetSessionToken", false},
		{`"*"`, false, "anything:AtAll", true},
		{`["s3:GetObject", "s3:PutObject"]`, false, "s3:putobject", true},
		{`"ec2:Describe"`, false, "ec2:DescribeInstances", false},
		{`"iam:*"`, true, "iam:CreateUser", false},
		{`"iam:*"`, true, "sts:GetSessionToken", true},
		{`["iam:*", "sts:*"]`, true, "STS:GetSessionToken", false},
	}
	for _, tc := range cases {
		elem := "Action"
		if tc.not {
			elem = "NotAction"
		}
		d, err := Parse([]byte(fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","%s":%s,"Resource":"*"}}`, elem, tc.patterns)))
		if err != nil {
			t.Fatal(err)
		}
		got := Evaluate([]*Document{d}, Request{Action: tc.action}).Decision == Allowed
		if got != tc.want {
			t.Errorf("%s %s vs %s: got %v, want %v", elem, tc.patterns, tc.action, got, tc.want)
		}
	}
}

func TestResourceMatching(t *testing.T) {
	cases := []struct {
		elem     string
		resource string
		want     Decision
	}{
		{`"Resource": "arn:aws:s3:::bucket/*"`, "arn:aws:s3:::bucket/a/b", Allowed},
		{`"Resource": "arn:aws:s3:::bucket/*"`, "arn:aws:s3:::other/a", ImplicitDeny},
		{`"Resource": "arn:aws:s3:::Bucket/*"`, "arn:aws:s3:::bucket/a", ImplicitDeny},
		{`"Resource": "arn:aws:s3:::bucket/?"`, "arn:aws:s3:::bucket/a", Allowed},
		{`"Resource": "arn:aws:s3:::bucket/?"`, "arn:aws:s3:::bucket/ab", ImplicitDeny},
		{`"Resource": ["arn:aws:s3:::x", "arn:aws:s3:::bucket"]`, "arn:aws:s3:::bucket", Allowed},
		{`"Resource": "arn:aws:s3:::bucket"`, "", Allowed},
		{`"Resource": "arn:aws:s3:::bucket"`, "*", Allowed},
		{`"NotResource": "arn:aws:s3:::secret/*"`, "arn:aws:s3:::secret/a", ImplicitDeny},
		{`"NotResource": "arn:aws:s3:::secret/*"`, "arn:aws:s3:::public/a", Allowed},
		{`"NotResource": "arn:aws:s3:::secret/*"`, "", Allowed},
		{`"NotResource": "*"`, "", ImplicitDeny},
		{`"NotResource": "*"`, "arn:aws:s3:::public/a", ImplicitDeny},
		{``, "arn:aws:s3:::anything", Allowed},
	}
	for _, tc := range cases {
		sep := ""
		if tc.elem != "" {
			sep = ","
		}
		d, err := Parse([]byte(fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"%s%s}}`, sep, tc.elem)))
		if err != nil {
			t.Fatal(err)
		}
		if got := Evaluate([]*Document{d}, Request{Action: "s3:GetObject", Resource: tc.resource}).Decision; got != tc.want {
			t.Errorf("%s vs %q: got %s, want %s", tc.elem, tc.resource, got, tc.want)
		}
	}
}

func TestNotActionDenyWithAllow(t *testing.T) {
	d, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","NotAction":["iam:*","sts:GetSessionToken"],"Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string]Decision{
		"ec2:RunInstances":    ExplicitDeny,
		"iam:EnableMFADevice": Allowed,
		"sts:GetSessionToken": Allowed,
		"sts:AssumeRole":      ExplicitDeny,
	} {
		if got := Evaluate([]*Document{d}, Request{Action: action}).Decision; got != want {
			t.Errorf("%s: got %s, want %s", action, got, want)
		}
	}
}

func TestPolicyVariables(t *testing.T) {
	alice := ctxOf("aws:username=alice", "aws:userid=AIDAALICE", "aws:PrincipalTag/team=blue", "aws:ResourceTag/team=blue")
	cases := []struct {
		name     string
		version  string
		resource string // Resource element
		cond     string // Condition block, or ""
		ctx      map[string][]string
		request  string
		want     Decision
	}{
		{"username", Version2012, "arn:aws:s3:::b/${aws:username}/*", "", alice, "arn:aws:s3:::b/alice/x", Allowed},
		{"username other", Version2012, "arn:aws:s3:::b/${aws:username}/*", "", alice, "arn:aws:s3:::b/bob/x", ImplicitDeny},
		{"userid", Version2012, "arn:aws:s3:::b/${aws:userid}", "", alice, "arn:aws:s3:::b/AIDAALICE", Allowed},
		{"key case-insensitive", Version2012, "arn:aws:s3:::b/${AWS:UserName}", "", alice, "arn:aws:s3:::b/alice", Allowed},
		{"2008 literal", Version2008, "arn:aws:s3:::b/${aws:username}/*", "", alice, "arn:aws:s3:::b/${aws:username}/x", Allowed},
		{"2008 no substitution", Version2008, "arn:aws:s3:::b/${aws:username}/*", "", alice, "arn:aws:s3:::b/alice/x", ImplicitDeny},
		{"no Version literal", "", "arn:aws:s3:::b/${aws:username}/*", "", alice, "arn:aws:s3:::b/alice/x", ImplicitDeny},
		{"star literal", Version2012, "arn:aws:s3:::b/${*}", "", alice, "arn:aws:s3:::b/*", Allowed},
		{"star not wildcard", Version2012, "arn:aws:s3:::b/${*}", "", alice, "arn:aws:s3:::b/x", ImplicitDeny},
		{"question literal", Version2012, "arn:aws:s3:::b/${?}", "", alice, "arn:aws:s3:::b/?", Allowed},
		{"question not wildcard", Version2012, "arn:aws:s3:::b/${?}", "", alice, "arn:aws:s3:::b/x", ImplicitDeny},
		{"dollar", Version2012, "arn:aws:s3:::b/price-${$}", "", alice, "arn:aws:s3:::b/price-$", Allowed},
		{"default used", Version2012, "arn:aws:s3:::b/${aws:username, 'anonymous'}", "", ctxOf(), "arn:aws:s3:::b/anonymous", Allowed},
		{"default ignored", Version2012, "arn:aws:s3:::b/${aws:username, 'anonymous'}", "", alice, "arn:aws:s3:::b/alice", Allowed},
		{"default quote", Version2012, "arn:aws:s3:::b/${aws:username, 'o''brien'}", "", ctxOf(), "arn:aws:s3:::b/o'brien", Allowed},
		{"unresolved never matches", Version2012, "arn:aws:s3:::b/${aws:username}", "", ctxOf(), "arn:aws:s3:::b/${aws:username}", ImplicitDeny},
		{"unresolved unspecified resource", Version2012, "arn:aws:s3:::b/${aws:username}", "", ctxOf(), "", ImplicitDeny},
		{"multi-valued key unresolved", Version2012, "arn:aws:s3:::b/${k}", "", ctxOf("k=a", "k=b"), "arn:aws:s3:::b/a", ImplicitDeny},
		{"value wildcards literal", Version2012, "arn:aws:s3:::b/${aws:username}", "", ctxOf("aws:username=a*"), "arn:aws:s3:::b/abc", ImplicitDeny},
		{"principal tag in condition", Version2012, "*", `{"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}`, alice, "", Allowed},
		{"principal tag mismatch", Version2012, "*", `{"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}`, ctxOf("aws:PrincipalTag/team=red", "aws:ResourceTag/team=blue"), "", ImplicitDeny},
		{"StringLike with variable", Version2012, "*", `{"StringLike": {"s3:prefix": "home/${aws:username}/*"}}`, ctxOf("aws:username=alice", "s3:prefix=home/alice/docs"), "", Allowed},
		{"condition variable 2008 literal", Version2008, "*", `{"StringEquals": {"s3:prefix": "${aws:username}"}}`, ctxOf("aws:username=alice", "s3:prefix=${aws:username}"), "", Allowed},
		{"unresolved condition false", Version2012, "*", `{"StringEquals": {"s3:prefix": "${aws:username}"}}`, ctxOf("s3:prefix=x"), "", ImplicitDeny},
		{"unresolved negated condition false", Version2012, "*", `{"StringNotEquals": {"s3:prefix": "${aws:username}"}}`, ctxOf("s3:prefix=x"), "", ImplicitDeny},
		{"ArnLike with variable", Version2012, "*", `{"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:user/${aws:username}"}}`, ctxOf("aws:username=alice", "aws:SourceArn=arn:aws:iam::123456789012:user/alice"), "", Allowed},
		{"numeric takes no variables", Version2012, "*", `{"NumericEquals": {"n": "${n2}"}}`, ctxOf("n=1", "n2=1"), "", Unknown},
	}
	for _, tc := range cases {
		v := ""
		if tc.version != "" {
			v = fmt.Sprintf(`"Version": %q,`, tc.version)
		}
		cond := ""
		if tc.cond != "" {
			cond = `, "Condition": ` + tc.cond
		}
		src := fmt.Sprintf(`{%s "Statement": {"Effect": "Allow", "Action": "*", "Resource": %q%s}}`, v, tc.resource, cond)
		d, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := Evaluate([]*Document{d}, Request{Action: "s3:GetObject", Resource: tc.request, Context: tc.ctx}).Decision; got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDecisionStrings(t *testing.T) {
	want := map[Decision]string{Allowed: "allowed", ExplicitDeny: "explicit-deny", ImplicitDeny: "implicit-deny", Unknown: "unknown"}
	for d, s := range want {
		if d.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(d), d.String(), s)
		}
		b, err := json.Marshal(d)
		if err != nil || string(b) != `"`+s+`"` {
			t.Errorf("marshal %s: %s %v", s, b, err)
		}
		var back Decision
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Errorf("unmarshal %s: %v %v", b, back, err)
		}
	}
	var d Decision
	if err := json.Unmarshal([]byte(`"maybe"`), &d); err == nil {
		t.Error("unmarshal of an invalid decision should fail")
	}
}

func TestResultJSON(t *testing.T) {
	docs := loadDocs(t, "seed003_deny_all_boolifexists.json")
	r := Evaluate(docs, Request{Action: "ec2:DescribeInstances"})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"decision":"explicit-deny"`, `"sid":"BlockAccessWhenNoSignedInWithMFA"`, `"effect":"Deny"`, `"index":0`, `seed003_deny_all_boolifexists.json`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}
