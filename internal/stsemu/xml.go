package stsemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// stsNamespace is the XML namespace of every STS response.
const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// apiVersion is the only STS API version served.
const apiVersion = "2011-06-15"

// AWS error messages, verbatim.
const (
	msgInvalidClientTokenID = "The security token included in the request is invalid."
	msgSignatureMismatch    = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgExpiredToken         = "The security token included in the request is expired"
	msgMissingAuth          = "Request is missing Authentication Token"
	msgSessionCredsGST      = "Cannot call GetSessionToken with session credentials"
	msgMFASerialInvalid     = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."
	msgMFACodeInvalid       = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	msgMFABoth              = "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
	msgChaining             = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
	msgMaxSession           = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	msgRateExceeded         = "Rate exceeded"
)

// apiError is an STS error response.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func errAccessDenied(msg string) *apiError {
	return newAPIError(http.StatusForbidden, "AccessDenied", msg)
}

func errValidation(msg string) *apiError {
	return newAPIError(http.StatusBadRequest, "ValidationError", msg)
}

func errNotAuthorized(callerARN, resource string) *apiError {
	return errAccessDenied("User: " + callerARN + " is not authorized to perform: sts:AssumeRole on resource: " + resource)
}

// faultType is the <Type> of an error: Receiver for server faults.
func (e *apiError) faultType() string {
	if e.status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// xmlDoc builds an indented XML document the way AWS formats STS responses.
type xmlDoc struct {
	b     strings.Builder
	depth int
	ns    string // "" = the STS namespace
}

func (x *xmlDoc) indent() {
	for range x.depth {
		x.b.WriteString("  ")
	}
}

func (x *xmlDoc) root(name string) {
	ns := x.ns
	if ns == "" {
		ns = stsNamespace
	}
	x.b.WriteString("<" + name + " xmlns=\"" + ns + "\">\n")
	x.depth++
}

func (x *xmlDoc) open(name string) {
	x.indent()
	x.b.WriteString("<" + name + ">\n")
	x.depth++
}

func (x *xmlDoc) close(name string) {
	x.depth--
	x.indent()
	x.b.WriteString("</" + name + ">\n")
}

func (x *xmlDoc) leaf(name, text string) {
	x.indent()
	x.b.WriteString("<" + name + ">")
	x.b.WriteString(escapeXMLText(text))
	x.b.WriteString("</" + name + ">\n")
}

func (x *xmlDoc) bytes() []byte { return []byte(x.b.String()) }

// escapeXMLText escapes character data as AWS does (quotes are left alone)
// and replaces characters XML cannot carry.
func escapeXMLText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == utf8.RuneError, r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r >= 0xFFFE && r <= 0xFFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func errorBody(e *apiError, reqID, ns string) []byte {
	x := xmlDoc{ns: ns}
	x.root("ErrorResponse")
	x.open("Error")
	x.leaf("Type", e.faultType())
	x.leaf("Code", e.code)
	x.leaf("Message", e.message)
	x.close("Error")
	x.leaf("RequestId", reqID)
	x.close("ErrorResponse")
	return x.bytes()
}

// successBody wraps the result elements written by fill in
// <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>.
func successBody(action, reqID string, fill func(*xmlDoc)) []byte {
	return successBodyNS(action, reqID, "", fill)
}

// successBodyNS is successBody in the namespace ns ("" = STS's); a nil
// fill writes no result element, as for actions that return nothing.
func successBodyNS(action, reqID, ns string, fill func(*xmlDoc)) []byte {
	x := xmlDoc{ns: ns}
	x.root(action + "Response")
	if fill != nil {
		x.open(action + "Result")
		fill(&x)
		x.close(action + "Result")
	}
	x.open("ResponseMetadata")
	x.leaf("RequestId", reqID)
	x.close("ResponseMetadata")
	x.close(action + "Response")
	return x.bytes()
}

func writeCredentials(x *xmlDoc, s *session) {
	x.open("Credentials")
	x.leaf("AccessKeyId", s.accessKeyID)
	x.leaf("SecretAccessKey", s.secret)
	x.leaf("SessionToken", s.token)
	x.leaf("Expiration", s.expiration.UTC().Format(time.RFC3339))
	x.close("Credentials")
}

// validation collects constraint violations and reports them the way AWS
// does: "N validation error(s) detected: A; B".
type validation struct {
	msgs []string
}

func (v *validation) fail(value *string, member, constraint string) {
	val := "null"
	if value != nil {
		val = "'" + *value + "'"
	}
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", val, member, constraint))
}

// length checks an optional string member's length bounds.
func (v *validation) length(value, member string, minLen, maxLen int) {
	n := utf8.RuneCountInString(value)
	if n < minLen {
		v.fail(&value, member, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	}
	if n > maxLen {
		v.fail(&value, member, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	}
}

func (v *validation) err() *apiError {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return errValidation("1 validation error detected: " + v.msgs[0])
	default:
		return errValidation(fmt.Sprintf("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; ")))
	}
}
