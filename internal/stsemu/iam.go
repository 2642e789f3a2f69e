package stsemu

import (
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// The IAM Query API: the access key calls a key rotation needs.
const (
	// iamAPIVersion is the IAM API version; requests carrying it are IAM's.
	iamAPIVersion = "2010-05-08"
	// iamNamespace is the XML namespace of IAM responses.
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	// iamSigningRegion is the region IAM requests are signed for in the
	// aws partition (IAM is a global service).
	iamSigningRegion = "us-east-1"
	// maxAccessKeys is AWS's quota of access keys per user.
	maxAccessKeys = 2
	keyActive     = "Active"
)

var (
	iamUserNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]+$`) })
	iamKeyIDRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w]+$`) })
)

// mfaFreeActions are the actions the documented MFA policy leaves to
// callers without MFA (its NotAction list).
func mfaFreeActions() map[string]bool {
	return map[string]bool{
		"iam:CreateVirtualMFADevice": true, "iam:DeleteVirtualMFADevice": true, "iam:ListVirtualMFADevices": true,
		"iam:EnableMFADevice": true, "iam:ResyncMFADevice": true, "iam:ListAccountAliases": true, "iam:ListUsers": true,
		"iam:ListSSHPublicKeys": true, "iam:ListAccessKeys": true, "iam:ListServiceSpecificCredentials": true,
		"iam:ListMFADevices": true, "iam:GetAccountSummary": true, "sts:GetSessionToken": true,
	}
}

// checkMFAPolicy applies the user's MFA policy (RequireMFA) to an action
// made with the user's own credentials: long-term keys, or a
// GetSessionToken session. With BoolIfExists a missing
// aws:MultiFactorAuthPresent counts as false, so long-term keys are denied.
func (e *Emulator) checkMFAPolicy(p *principal, action, resource string) *apiError {
	if p.session != nil && p.session.kind == KindRole {
		return nil // role sessions are governed by the role's policies
	}
	e.mu.Lock()
	deny := p.user.mfaPolicy && !p.mfaPresent() && !mfaFreeActions()[action]
	e.mu.Unlock()
	if !deny {
		return nil
	}
	return errAccessDenied("User: " + p.user.arn + " is not authorized to perform: " + action + " on resource: " + resource +
		" with an explicit deny in an identity-based policy")
}

// handleIAM authenticates and dispatches an IAM request.
func (e *Emulator) handleIAM(r *http.Request, body []byte, params url.Values, action, reqID string, now time.Time) ([]byte, *apiError) {
	switch action {
	case "ListAccessKeys", "CreateAccessKey", "DeleteAccessKey":
	default:
		return nil, newAPIError(http.StatusBadRequest, "InvalidAction",
			"Could not find operation "+action+" for version "+iamAPIVersion)
	}
	p, aerr := e.authenticate(r, body, now, "iam")
	if aerr != nil {
		return nil, aerr
	}
	var v validation
	userName, hasUser := optional(params, "UserName")
	if hasUser {
		v.length(userName, "userName", 1, 128)
		if !iamUserNameRE().MatchString(userName) {
			v.fail(&userName, "userName", `Member must satisfy regular expression pattern: [\w+=,.@-]+`)
		}
	}
	keyID, hasKey := optional(params, "AccessKeyId")
	if action == "DeleteAccessKey" {
		if !hasKey {
			v.fail(nil, "accessKeyId", "Member must not be null")
		} else {
			v.length(keyID, "accessKeyId", 16, 128)
			if !iamKeyIDRE().MatchString(keyID) {
				v.fail(&keyID, "accessKeyId", `Member must satisfy regular expression pattern: [\w]+`)
			}
		}
	}
	if aerr := v.err(); aerr != nil {
		return nil, aerr
	}
	// Credentials from GetSessionToken call IAM only with MFA.
	if p.session != nil && p.session.kind == KindSession && !p.session.mfaAuthenticated {
		return nil, errAccessDenied("Cannot call IAM API operations with session credentials that were not authenticated with MFA")
	}
	if !hasUser {
		if p.session != nil && p.session.kind == KindRole {
			return nil, errValidation("Must specify userName when calling with non-User credentials")
		}
		userName = p.user.name
	}

	e.mu.Lock()
	target, ok := e.users[userName]
	e.mu.Unlock()
	if !ok {
		return nil, newAPIError(http.StatusNotFound, "NoSuchEntity", "The user with name "+userName+" cannot be found.")
	}
	if aerr := e.checkMFAPolicy(p, "iam:"+action, target.arn); aerr != nil {
		return nil, aerr
	}
	if (p.session == nil || p.session.kind == KindSession) && target != p.user {
		return nil, errAccessDenied("User: " + p.user.arn + " is not authorized to perform: iam:" + action + " on resource: " + target.arn +
			" because no identity-based policy allows the iam:" + action + " action")
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	switch action {
	case "ListAccessKeys":
		return successBodyNS(action, reqID, iamNamespace, func(x *xmlDoc) {
			x.leaf("IsTruncated", "false")
			x.open("AccessKeyMetadata")
			for _, k := range target.keys {
				x.open("member")
				x.leaf("UserName", target.name)
				x.leaf("AccessKeyId", k.id)
				x.leaf("Status", k.status)
				x.leaf("CreateDate", k.created.UTC().Format(time.RFC3339))
				x.close("member")
			}
			x.close("AccessKeyMetadata")
		}), nil
	case "CreateAccessKey":
		k, aerr := e.createKeyLocked(target, now)
		if aerr != nil {
			return nil, aerr
		}
		return successBodyNS(action, reqID, iamNamespace, func(x *xmlDoc) {
			x.open("AccessKey")
			x.leaf("UserName", target.name)
			x.leaf("AccessKeyId", k.id)
			x.leaf("Status", k.status)
			x.leaf("SecretAccessKey", k.secret)
			x.leaf("CreateDate", k.created.UTC().Format(time.RFC3339))
			x.close("AccessKey")
		}), nil
	default: // DeleteAccessKey
		for i, k := range target.keys {
			if k.id == keyID {
				target.keys = append(target.keys[:i:i], target.keys[i+1:]...)
				delete(e.keys, k.id)
				return successBodyNS(action, reqID, iamNamespace, nil), nil
			}
		}
		return nil, newAPIError(http.StatusNotFound, "NoSuchEntity", "The Access Key with id "+keyID+" cannot be found.")
	}
}

// createKeyLocked adds an access key to u within AWS's quota. The caller
// holds e.mu.
func (e *Emulator) createKeyLocked(u *user, now time.Time) (*longKey, *apiError) {
	if len(u.keys) >= maxAccessKeys {
		return nil, newAPIError(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	}
	k := &longKey{user: u, id: accessKeyID("AKIA"), secret: secretAccessKey(), status: keyActive, created: now.UTC().Truncate(time.Second)}
	u.keys = append(u.keys, k)
	e.keys[k.id] = k
	return k, nil
}
