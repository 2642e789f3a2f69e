package stsemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	sigv4Algorithm   = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
	scopeDateFormat  = "20060102"
	maxSignatureSkew = 5 * time.Minute
	headerAmzDate    = "X-Amz-Date"
	headerToken      = "X-Amz-Security-Token"
	headerSHA256     = "X-Amz-Content-Sha256"
)

// sigv4Auth is a parsed AWS4-HMAC-SHA256 Authorization header.
type sigv4Auth struct {
	raw           string
	accessKeyID   string
	scopeDate     string
	region        string
	service       string
	terminator    string
	signedHeaders []string
	signature     string
}

// principal is an authenticated caller.
type principal struct {
	user    *user
	session *session // nil for long-term keys
}

// mfaPresent reports aws:MultiFactorAuthPresent for the caller's requests:
// true for sessions made with MFA (or derived from one), absent (false)
// for long-term keys.
func (p *principal) mfaPresent() bool { return p.session != nil && p.session.mfaAuthenticated }

// arn is the caller's ARN as GetCallerIdentity reports it.
func (p *principal) arn(account string) string {
	if p.session != nil && p.session.kind == KindRole {
		return "arn:aws:sts::" + account + ":assumed-role/" + p.session.role.name + "/" + p.session.sessionName
	}
	return p.user.arn
}

// userID is the caller's UserId as GetCallerIdentity reports it.
func (p *principal) userID() string {
	if p.session != nil && p.session.kind == KindRole {
		return p.session.role.uniqueID + ":" + p.session.sessionName
	}
	return p.user.uniqueID
}

// credentialKeyID extracts the access key id from the Authorization header
// without validating anything, for the call log.
func credentialKeyID(r *http.Request) string {
	h := r.Header.Get("Authorization")
	_, after, ok := strings.Cut(h, "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(after, "/")
	if len(id) > 128 {
		return ""
	}
	return id
}

func parseAuthorization(h string) (sigv4Auth, *apiError) {
	a := sigv4Auth{raw: h}
	alg, rest, _ := strings.Cut(h, " ")
	if alg != sigv4Algorithm {
		return a, newAPIError(http.StatusBadRequest, "IncompleteSignature",
			"Unsupported AWS 'algorithm': '"+alg+"'. Authorization="+h)
	}
	var credential, signedHeaders string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	var missing []string
	if credential == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if a.signature == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if signedHeaders == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if len(missing) > 0 {
		return a, newAPIError(http.StatusBadRequest, "IncompleteSignature",
			strings.Join(missing, " ")+" Authorization="+h)
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 {
		return a, newAPIError(http.StatusBadRequest, "IncompleteSignature",
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+credential+"'")
	}
	a.accessKeyID, a.scopeDate, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	a.signedHeaders = strings.Split(signedHeaders, ";")
	return a, nil
}

// authenticate verifies the request's SigV4 signature and returns the
// caller. The signature is recomputed with the AWS SDK signer over the
// headers the client declared as signed.
func (e *Emulator) authenticate(r *http.Request, body []byte, now time.Time, service string) (*principal, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, newAPIError(http.StatusForbidden, "MissingAuthenticationToken", msgMissingAuth)
	}
	auth, aerr := parseAuthorization(h)
	if aerr != nil {
		return nil, aerr
	}
	amzDate := r.Header.Get(headerAmzDate)
	if amzDate == "" {
		return nil, newAPIError(http.StatusBadRequest, "IncompleteSignature",
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+h)
	}
	sigTime, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "IncompleteSignature",
			"Date must be in ISO-8601 'basic format'. Got '"+amzDate+"'. See http://en.wikipedia.org/wiki/ISO_8601")
	}
	if auth.scopeDate != sigTime.Format(scopeDateFormat) {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
				auth.scopeDate+"' != '"+sigTime.Format(scopeDateFormat)+"', from '"+amzDate+"'.")
	}
	if auth.service != service {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Credential should be scoped to correct service: '"+service+"'. ")
	}
	if auth.terminator != "aws4_request" {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Credential should be scoped with a valid terminator: 'aws4_request', not '"+auth.terminator+"'. ")
	}
	if auth.region == "" || (service == "sts" && e.region != "" && auth.region != e.region) || (service == "iam" && auth.region != iamSigningRegion) {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Credential should be scoped to a valid region. ")
	}

	p, secret, aerr := e.lookupKey(auth.accessKeyID, r.Header.Get(headerToken), now)
	if aerr != nil {
		return nil, aerr
	}

	if sigTime.Before(now.Add(-maxSignatureSkew)) {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Signature expired: "+amzDate+" is now earlier than "+
				now.Add(-maxSignatureSkew).UTC().Format(amzDateFormat)+" ("+
				now.UTC().Format(amzDateFormat)+" - 5 min.)")
	}
	if sigTime.After(now.Add(maxSignatureSkew)) {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch",
			"Signature not yet current: "+amzDate+" is still later than "+
				now.Add(maxSignatureSkew).UTC().Format(amzDateFormat)+" ("+
				now.UTC().Format(amzDateFormat)+" + 5 min.)")
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if declared := r.Header.Get(headerSHA256); declared != "" && declared != payloadHash {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", msgSignatureMismatch)
	}

	want, err := e.expectedSignature(r, &auth, len(body), payloadHash, secret, sigTime)
	if err != nil {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", msgSignatureMismatch)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth.signature)) != 1 {
		return nil, newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", msgSignatureMismatch)
	}
	return p, nil
}

// lookupKey finds the long-term or temporary key and checks its session
// token and expiry.
func (e *Emulator) lookupKey(keyID, token string, now time.Time) (*principal, string, *apiError) {
	invalid := newAPIError(http.StatusForbidden, "InvalidClientTokenId", msgInvalidClientTokenID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.keys[keyID]; ok {
		if token != "" || k.status != keyActive {
			return nil, "", invalid
		}
		return &principal{user: k.user}, k.secret, nil
	}
	s, ok := e.sessions[keyID]
	if !ok {
		return nil, "", invalid
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) != 1 {
		return nil, "", invalid
	}
	if !now.Before(s.expiration) {
		return nil, "", newAPIError(http.StatusForbidden, "ExpiredToken", msgExpiredToken)
	}
	return &principal{user: s.user, session: s}, s.secret, nil
}

// expectedSignature signs a copy of the request restricted to the headers
// the client declared as signed, with the SDK signer, and returns the hex
// signature.
func (e *Emulator) expectedSignature(r *http.Request, auth *sigv4Auth, bodyLen int, payloadHash, secret string, sigTime time.Time) (string, error) {
	u := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if u.Path == "" {
		u.Path = "/"
	}
	// No scheme: the signer then keeps the Host value exactly as received,
	// which is what the client signed.
	clone := &http.Request{
		Method: r.Method,
		URL:    u,
		Host:   r.Host,
		Header: make(http.Header),
	}
	for _, name := range auth.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			clone.ContentLength = int64(bodyLen)
		default:
			if vals := r.Header.Values(name); len(vals) > 0 {
				clone.Header[textproto.CanonicalMIMEHeaderKey(name)] = vals
			}
		}
	}
	// The session token is never passed to the signer: it is part of the
	// signature only if the client signed the X-Amz-Security-Token header,
	// which the loop above copies.
	creds := aws.Credentials{AccessKeyID: auth.accessKeyID, SecretAccessKey: secret}
	if err := e.signer.SignHTTP(r.Context(), creds, clone, payloadHash, auth.service, auth.region, sigTime); err != nil {
		return "", err
	}
	_, sig, ok := strings.Cut(clone.Header.Get("Authorization"), "Signature=")
	if !ok {
		return "", fmt.Errorf("stsemu: signer produced no signature")
	}
	return sig, nil
}
