package stsemu

import (
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Parameter constraints from the STS API reference, compiled on first use
// so that programs linking the emulator (mfad, for its sandbox) do not pay
// for them at every start.
var (
	tokenCodeRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\d]*$`) })
	serialRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=/:,.@-]*$`) })
	sessionNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]*$`) })
	externalIDRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@:/-]*$`) })
	sourceIDRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]*$`) })
)

const (
	gstMinDuration  = 900
	gstMaxDuration  = 129600
	gstDefault      = 43200
	roleMinDuration = 900
	roleMaxDuration = 43200
	roleDefault     = 3600
	chainingLimit   = 3600
)

// optional returns a parameter's value and whether it is present.
func optional(params url.Values, name string) (string, bool) {
	if _, ok := params[name]; !ok {
		return "", false
	}
	return params.Get(name), true
}

// durationParam validates DurationSeconds against [minD, maxD].
func durationParam(v *validation, params url.Values, minD, maxD, def int) int {
	raw, ok := optional(params, "DurationSeconds")
	if !ok {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		v.fail(&raw, "durationSeconds", "Member must be a valid integer")
		return def
	}
	if n < minD {
		v.fail(&raw, "durationSeconds", "Member must have value greater than or equal to "+strconv.Itoa(minD))
	}
	if n > maxD {
		v.fail(&raw, "durationSeconds", "Member must have value less than or equal to "+strconv.Itoa(maxD))
	}
	return n
}

// mfaParams validates SerialNumber and TokenCode.
func mfaParams(v *validation, params url.Values) (serial string, hasSerial bool, code string, hasCode bool) {
	serial, hasSerial = optional(params, "SerialNumber")
	if hasSerial {
		v.length(serial, "serialNumber", 9, 256)
		if !serialRE().MatchString(serial) {
			v.fail(&serial, "serialNumber", `Member must satisfy regular expression pattern: [\w+=/:,.@-]*`)
		}
	}
	code, hasCode = optional(params, "TokenCode")
	if hasCode {
		v.length(code, "tokenCode", 6, 6)
		if !tokenCodeRE().MatchString(code) {
			v.fail(&code, "tokenCode", `Member must satisfy regular expression pattern: [\d]*`)
		}
	}
	return serial, hasSerial, code, hasCode
}

func (e *Emulator) getCallerIdentity(p *principal, reqID string) []byte {
	return successBody("GetCallerIdentity", reqID, func(x *xmlDoc) {
		x.leaf("Arn", p.arn(e.account))
		x.leaf("UserId", p.userID())
		x.leaf("Account", e.account)
	})
}

func (e *Emulator) getSessionToken(p *principal, params url.Values, reqID string, now time.Time) ([]byte, *apiError) {
	if p.session != nil {
		return nil, errAccessDenied(msgSessionCredsGST)
	}
	var v validation
	dur := durationParam(&v, params, gstMinDuration, gstMaxDuration, gstDefault)
	serial, hasSerial, code, hasCode := mfaParams(&v, params)
	if aerr := v.err(); aerr != nil {
		return nil, aerr
	}
	if hasSerial != hasCode {
		return nil, errAccessDenied(msgMFABoth)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	mfa := hasSerial
	if mfa {
		if aerr := e.checkMFA(p.user, serial, code, now); aerr != nil {
			return nil, aerr
		}
	}
	s := e.issue(KindSession, p.user, nil, "", e.lifetime("GetSessionToken", dur), mfa, now, now)
	return successBody("GetSessionToken", reqID, func(x *xmlDoc) {
		writeCredentials(x, s)
	}), nil
}

func (e *Emulator) assumeRole(p *principal, params url.Values, reqID string, now time.Time) ([]byte, *apiError) {
	var v validation
	roleARN, hasRole := optional(params, "RoleArn")
	if hasRole {
		v.length(roleARN, "roleArn", 20, 2048)
	} else {
		v.fail(nil, "roleArn", "Member must not be null")
	}
	sessionName, hasName := optional(params, "RoleSessionName")
	if hasName {
		v.length(sessionName, "roleSessionName", 2, 64)
		if !sessionNameRE().MatchString(sessionName) {
			v.fail(&sessionName, "roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	} else {
		v.fail(nil, "roleSessionName", "Member must not be null")
	}
	dur := durationParam(&v, params, roleMinDuration, roleMaxDuration, roleDefault)
	if externalID, ok := optional(params, "ExternalId"); ok {
		v.length(externalID, "externalId", 2, 1224)
		if !externalIDRE().MatchString(externalID) {
			v.fail(&externalID, "externalId", `Member must satisfy regular expression pattern: [\w+=,.@:\/-]*`)
		}
	}
	sourceID, hasSourceID := optional(params, "SourceIdentity")
	if hasSourceID {
		v.length(sourceID, "sourceIdentity", 2, 64)
		if !sourceIDRE().MatchString(sourceID) {
			v.fail(&sourceID, "sourceIdentity", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	serial, hasSerial, code, hasCode := mfaParams(&v, params)
	if aerr := v.err(); aerr != nil {
		return nil, aerr
	}

	callerARN := p.arn(e.account)
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.roles[roleARN]
	if !ok {
		return nil, errNotAuthorized(callerARN, roleARN)
	}
	if len(r.trusted) > 0 {
		if _, ok := r.trusted[p.user.name]; !ok {
			return nil, errNotAuthorized(callerARN, roleARN)
		}
	}
	if r.externalID != "" && params.Get("ExternalId") != r.externalID {
		return nil, errNotAuthorized(callerARN, roleARN)
	}
	// A source identity, once set, stays with the session and every role
	// chained from it, and cannot be changed.
	inherited := ""
	if p.session != nil {
		inherited = p.session.sourceIdentity
	}
	if hasSourceID && inherited != "" && sourceID != inherited {
		return nil, errAccessDenied("User: " + callerARN + " is not authorized to perform: sts:SetSourceIdentity on resource: " + roleARN +
			" because the source identity " + inherited + " set earlier in the role chain cannot be changed")
	}
	if hasSourceID && inherited == "" && !r.allowSourceID {
		return nil, errAccessDenied("User: " + callerARN + " is not authorized to perform: sts:SetSourceIdentity on resource: " + roleARN)
	}
	effectiveSourceID := inherited
	if effectiveSourceID == "" {
		effectiveSourceID = sourceID
	}
	if r.sourceID != "" && effectiveSourceID != r.sourceID {
		return nil, errNotAuthorized(callerARN, roleARN)
	}
	if p.session != nil && dur > chainingLimit {
		return nil, errValidation(msgChaining)
	}
	if time.Duration(dur)*time.Second > r.maxSession {
		return nil, errValidation(msgMaxSession)
	}
	if hasSerial != hasCode {
		return nil, errAccessDenied(msgMFABoth)
	}

	// MFA state carries over from the calling session, as
	// aws:MultiFactorAuthAge does, unless this call brings its own code.
	var (
		mfa     bool
		mfaTime time.Time
	)
	if p.session != nil {
		mfa, mfaTime = p.session.mfaAuthenticated, p.session.mfaAuthTime
	}
	if hasSerial {
		if aerr := e.checkMFA(p.user, serial, code, now); aerr != nil {
			return nil, aerr
		}
		mfa, mfaTime = true, now
	}
	if r.requireMFA && !mfa {
		return nil, errNotAuthorized(callerARN, roleARN)
	}

	s := e.issue(KindRole, p.user, r, sessionName, e.lifetime("AssumeRole", dur), mfa, mfaTime, now)
	s.sourceIdentity = effectiveSourceID
	s.chained = p.session != nil
	return successBody("AssumeRole", reqID, func(x *xmlDoc) {
		x.open("AssumedRoleUser")
		x.leaf("AssumedRoleId", r.uniqueID+":"+sessionName)
		x.leaf("Arn", "arn:aws:sts::"+e.account+":assumed-role/"+r.name+"/"+sessionName)
		x.close("AssumedRoleUser")
		writeCredentials(x, s)
		if effectiveSourceID != "" {
			x.leaf("SourceIdentity", effectiveSourceID)
		}
	}), nil
}

// lifetime is how long credentials asked for dur seconds last: dur, or
// less under SetMaxLifetime. The caller holds e.mu.
func (e *Emulator) lifetime(action string, dur int) time.Duration {
	d := time.Duration(dur) * time.Second
	if max := e.maxLifetime(action); max > 0 && max < d {
		return max
	}
	return d
}

// issue creates temporary credentials. The caller holds e.mu.
func (e *Emulator) issue(kind string, u *user, r *role, sessionName string, d time.Duration, mfa bool, mfaTime, now time.Time) *session {
	s := &session{
		kind:             kind,
		accessKeyID:      accessKeyID("ASIA"),
		secret:           secretAccessKey(),
		token:            sessionToken(),
		user:             u,
		role:             r,
		sessionName:      sessionName,
		mfaAuthenticated: mfa,
		issuedAt:         now,
		// Expiration is sent with one-second precision: truncate so that the
		// client and the emulator agree on it.
		expiration: now.Add(d).Truncate(time.Second),
	}
	if mfa {
		s.mfaAuthTime = mfaTime
	}
	e.sessions[s.accessKeyID] = s
	return s
}
