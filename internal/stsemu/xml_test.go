package stsemu

import "testing"

func TestEscapeXMLText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		"a<b>&c":          "a&lt;b&gt;&amp;c",
		"it's \"quoted\"": "it's \"quoted\"",
		"bell\x07":        "bell\uFFFD",
		"bad\xffutf8":     "bad\uFFFDutf8",
	} {
		if got := escapeXMLText(in); got != want {
			t.Errorf("escapeXMLText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidationMessages(t *testing.T) {
	var v validation
	if v.err() != nil {
		t.Fatal("empty validation reported an error")
	}
	v.fail(nil, "roleArn", "Member must not be null")
	if got := v.err().message; got != "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null" {
		t.Errorf("one error: %q", got)
	}
	v.length("x", "roleSessionName", 2, 64)
	e := v.err()
	if e.status != 400 || e.code != "ValidationError" || e.message != "2 validation errors detected: "+
		"Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "+
		"Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2" {
		t.Errorf("two errors: %+v", e)
	}
}

func TestFaultDefaults(t *testing.T) {
	for _, tc := range []struct {
		f                 Fault
		status            int
		code, msg, fltTyp string
	}{
		{Fault{Code: "Throttling"}, 400, "Throttling", "Rate exceeded", "Sender"},
		{Fault{Status: 400}, 400, "Throttling", "Rate exceeded", "Sender"},
		{Fault{Status: 500}, 500, "InternalFailure", "An internal error has occurred. Try your query again.", "Receiver"},
		{Fault{Code: "ServiceUnavailable"}, 503, "ServiceUnavailable", "Service is unable to handle request.", "Receiver"},
		{Fault{Status: 403, Code: "AccessDenied", Message: "nope"}, 403, "AccessDenied", "nope", "Sender"},
	} {
		e := tc.f.apiError()
		if e == nil || e.status != tc.status || e.code != tc.code || e.message != tc.msg || e.faultType() != tc.fltTyp {
			t.Errorf("%+v -> %+v", tc.f, e)
		}
	}
	if (Fault{Latency: 1}).apiError() != nil {
		t.Error("latency-only fault produced an error")
	}
}
