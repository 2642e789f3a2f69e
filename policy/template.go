package policy

import (
	"encoding/json"
	"strconv"
	"time"
)

// templateStatement is a statement as written in the template.
type templateStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    Effect                       `json:"Effect"`
	Action    []string                     `json:"Action,omitempty"`
	NotAction []string                     `json:"NotAction,omitempty"`
	Resource  any                          `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// templateDocument is the template policy document.
type templateDocument struct {
	Version   string              `json:"Version"`
	Statement []templateStatement `json:"Statement"`
}

// mfaExemptActions are the actions the template's Deny statements leave
// alone, so that users without MFA (or with an expired one) can still set up
// their MFA device and get an MFA session.
func mfaExemptActions() []string {
	return []string{
		"iam:ChangePassword",
		"iam:CreateVirtualMFADevice",
		"iam:EnableMFADevice",
		"iam:GetAccountPasswordPolicy",
		"iam:GetUser",
		"iam:ListMFADevices",
		"iam:ListVirtualMFADevices",
		"iam:ResyncMFADevice",
		"sts:GetSessionToken",
	}
}

// Template returns a recommended MFA enforcement policy (indented JSON):
//
//   - users may manage their own MFA device (${aws:username}) and list
//     virtual MFA devices, and may call sts:GetSessionToken;
//   - everything except those actions is denied when
//     aws:MultiFactorAuthPresent is false or missing (BoolIfExists), for
//     direct calls only (aws:ViaAWSService false);
//   - when maxAge > 0, everything except those actions is also denied when
//     the MFA is older than maxAge (NumericGreaterThanIfExists
//     aws:MultiFactorAuthAge), so an MFA session must be renewed.
//
// The template grants nothing else: attach it next to the policies that give
// users their actual permissions.
func Template(maxAge time.Duration) []byte {
	exempt := mfaExemptActions()
	doc := templateDocument{
		Version: Version2012,
		Statement: []templateStatement{
			{
				Sid:      "AllowListVirtualMFADevices",
				Effect:   Allow,
				Action:   []string{"iam:ListVirtualMFADevices", "iam:GetAccountPasswordPolicy"},
				Resource: "*",
			},
			{
				Sid:      "AllowManageOwnVirtualMFADevice",
				Effect:   Allow,
				Action:   []string{"iam:CreateVirtualMFADevice"},
				Resource: "arn:aws:iam::*:mfa/*",
			},
			{
				Sid:    "AllowManageOwnUserMFA",
				Effect: Allow,
				Action: []string{
					"iam:ChangePassword",
					"iam:DeactivateMFADevice",
					"iam:EnableMFADevice",
					"iam:GetUser",
					"iam:ListMFADevices",
					"iam:ResyncMFADevice",
				},
				Resource: "arn:aws:iam::*:user/${aws:username}",
			},
			{
				Sid:      "AllowGetSessionToken",
				Effect:   Allow,
				Action:   []string{"sts:GetSessionToken"},
				Resource: "*",
			},
			{
				Sid:       "DenyAllExceptMFASelfServiceWithoutMFA",
				Effect:    Deny,
				NotAction: exempt,
				Resource:  "*",
				Condition: map[string]map[string]string{
					"BoolIfExists": {
						KeyMFAPresent:    "false",
						KeyViaAWSService: "false",
					},
				},
			},
		},
	}
	if secs := int64(maxAge / time.Second); secs > 0 {
		doc.Statement = append(doc.Statement, templateStatement{
			Sid:       "DenyAllExceptMFASelfServiceWhenMFAIsOld",
			Effect:    Deny,
			NotAction: exempt,
			Resource:  "*",
			Condition: map[string]map[string]string{
				"NumericGreaterThanIfExists": {KeyMFAAge: strconv.FormatInt(secs, 10)},
				"BoolIfExists":               {KeyViaAWSService: "false"},
			},
		})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		// Only strings, maps and slices are marshalled: this cannot fail.
		panic("policy: marshal template: " + err.Error())
	}
	return append(out, '\n')
}
