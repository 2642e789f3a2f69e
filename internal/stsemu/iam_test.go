package stsemu_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// iamClient returns a real SDK IAM client pointed at the emulator, signing
// for region at the fake clock, with retries disabled.
func (e *env) iamClient(akid, secret, token, region string) *iam.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, token),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.BaseEndpoint = aws.String(e.srv.URL)
		o.HTTPSignerV4 = clockSigner{now: e.clock.Now, signer: v4.NewSigner()}
	})
}

// mfaSession returns GetSessionToken credentials made with an MFA code.
func (e *env) mfaSession(u stsemu.User) aws.Credentials {
	e.t.Helper()
	out, err := e.userClient(u).GetSessionToken(ctx(e.t), &sts.GetSessionTokenInput{
		SerialNumber: aws.String(u.MFASerial), TokenCode: aws.String(e.srv.Code(u, e.clock.Now())),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

func TestIAMAccessKeysThroughAnMFASession(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	if err := env.srv.RequireMFA("alice"); err != nil {
		t.Fatal(err)
	}

	// Long-term keys: listing is allowed by the policy, creating is not.
	lt := env.iamClient(u.AccessKeyID, u.SecretAccessKey, "", "us-east-1")
	list, err := lt.ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{})
	if err != nil || len(list.AccessKeyMetadata) != 1 || *list.AccessKeyMetadata[0].AccessKeyId != u.AccessKeyID ||
		list.AccessKeyMetadata[0].Status != "Active" || list.AccessKeyMetadata[0].CreateDate == nil {
		t.Fatalf("ListAccessKeys with the long-term key: %+v %v", list, err)
	}
	_, err = lt.CreateAccessKey(ctx(t), &iam.CreateAccessKeyInput{})
	apiErr(t, err, "AccessDenied", "User: "+u.ARN+" is not authorized to perform: iam:CreateAccessKey on resource: "+u.ARN+" with an explicit deny in an identity-based policy")
	// GetCallerIdentity is never denied.
	if _, err := env.userClient(u).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	// Nor may the long-term key assume a role without MFA under this policy.
	role := env.srv.AddRole("r", stsemu.RoleOptions{})
	_, err = env.userClient(u).AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s")})
	apiErr(t, err, "AccessDenied", "")

	// An MFA session may create and delete keys, within the two-key quota.
	s := env.mfaSession(u)
	c := env.iamClient(s.AccessKeyID, s.SecretAccessKey, s.SessionToken, "us-east-1")
	created, err := c.CreateAccessKey(ctx(t), &iam.CreateAccessKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	k := created.AccessKey
	if len(*k.AccessKeyId) != 20 || len(*k.SecretAccessKey) != 40 || *k.UserName != "alice" || k.Status != "Active" {
		t.Fatalf("CreateAccessKey: %+v", k)
	}
	_, err = c.CreateAccessKey(ctx(t), &iam.CreateAccessKeyInput{})
	apiErr(t, err, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	// The new key signs requests at once.
	id, err := env.client(*k.AccessKeyId, *k.SecretAccessKey, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != u.ARN {
		t.Fatalf("GetCallerIdentity with the new key: %v %v", id, err)
	}
	if _, err := c.DeleteAccessKey(ctx(t), &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(u.AccessKeyID)}); err != nil {
		t.Fatal(err)
	}
	keys := env.srv.AccessKeys("alice")
	if len(keys) != 1 || keys[0].ID != *k.AccessKeyId {
		t.Fatalf("keys after the delete: %+v", keys)
	}
	// The deleted key no longer signs; the session made with it lasts.
	_, err = env.userClient(u).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	apiErr(t, err, "InvalidClientTokenId", "The security token included in the request is invalid.")
	if _, err := c.ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{}); err != nil {
		t.Fatalf("the MFA session after its key was deleted: %v", err)
	}
	_, err = c.DeleteAccessKey(ctx(t), &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(u.AccessKeyID)})
	apiErr(t, err, "NoSuchEntity", "The Access Key with id "+u.AccessKeyID+" cannot be found.")
}

func TestIAMStrictness(t *testing.T) {
	env := newEnv(t)
	u := env.addUser("alice")
	other := env.addUser("bob")
	s := env.mfaSession(u)

	// IAM is signed for us-east-1, and for the service iam.
	_, err := env.iamClient(s.AccessKeyID, s.SecretAccessKey, s.SessionToken, "eu-west-1").ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{})
	apiErr(t, err, "SignatureDoesNotMatch", "")
	c := env.iamClient(s.AccessKeyID, s.SecretAccessKey, s.SessionToken, "us-east-1")
	// Another user's keys are not alice's to manage.
	_, err = c.ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{UserName: aws.String(other.Name)})
	apiErr(t, err, "AccessDenied", "")
	_, err = c.ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
	apiErr(t, err, "NoSuchEntity", "The user with name nobody cannot be found.")

	// A session made without MFA cannot call IAM.
	out, err := env.userClient(u).GetSessionToken(ctx(t), &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	_, err = env.iamClient(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken, "us-east-1").ListAccessKeys(ctx(t), &iam.ListAccessKeysInput{})
	apiErr(t, err, "AccessDenied", "")

	// Faults apply to IAM actions too, so a test can fail one step.
	env.srv.InjectFault(stsemu.Fault{Action: "DeleteAccessKey", Status: 500})
	_, err = c.DeleteAccessKey(ctx(t), &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(u.AccessKeyID)})
	apiErr(t, err, "InternalFailure", "")
	if keys := env.srv.AccessKeys("alice"); len(keys) != 1 {
		t.Fatalf("a failed delete removed a key: %+v", keys)
	}

	// The quota holds for AddAccessKey as for CreateAccessKey.
	if _, _, err := env.srv.AddAccessKey("alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.srv.AddAccessKey("alice"); err == nil {
		t.Fatal("a third key was created")
	}
}
