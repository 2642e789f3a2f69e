package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/c0950fac/mfad/console"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/session"
)

// Login returns an AWS console sign-in URL for a role profile, from its
// role session or, with in.DurationSeconds, from a role session of that
// lifetime assumed for the console alone.
//
// mfad assumes roles with the MFA session's temporary credentials, which
// AWS treats as role chaining: the federation endpoint then refuses a
// SessionDuration ("Invalid credentials parameter"), so the console
// session lasts as long as the role credentials, at most 1 hour.
func (d *Daemon) Login(ctx context.Context, in ipc.LoginRequest) (ipc.LoginReply, error) {
	p, err := d.profile(in.Profile)
	if err != nil {
		return ipc.LoginReply{}, err
	}
	if !p.isRole() {
		return ipc.LoginReply{}, fmt.Errorf("profile %s holds an IAM user's keys, and AWS signs in to the console from role credentials only: "+
			"the one way from an IAM user's keys, GetFederationToken, gives credentials that carry no MFA context, so policies that require MFA "+
			"(aws:MultiFactorAuthPresent) deny everything in that console session. Use a role profile instead (role_arn, with source_profile: %s; "+
			"the role's trust policy can require MFA, which the MFA session provides) and run `mfad login ROLE-PROFILE`", p.name, p.key.name)
	}
	var creds session.Credentials
	switch dur := time.Duration(in.DurationSeconds) * time.Second; {
	case dur == 0:
		snap, err := d.serve(ctx, p)
		if err != nil {
			return ipc.LoginReply{}, err
		}
		d.mu.Lock()
		creds = p.roleCredentials(snap)
		d.mu.Unlock()
	case dur < console.MinSessionDuration || dur > session.MaxChainedRoleDuration:
		return ipc.LoginReply{}, fmt.Errorf("--duration %s: mfad assumes roles from the MFA session (role chaining), for which AWS caps the role session "+
			"at 1 hour and refuses a longer console session: give 15m to 1h", dur)
	default:
		d.mu.Lock()
		mfa := p.key.mfa
		valid := mfa != nil && mfa.Valid(d.clock.Now(), minServe) && !p.locked
		d.mu.Unlock()
		if !valid {
			return ipc.LoginReply{}, lockedError(p)
		}
		prof := *p.prof
		prof.RoleDuration = dur
		rs, err := d.broker.AssumeRole(ctx, &prof, mfa)
		if err != nil {
			return ipc.LoginReply{}, err
		}
		creds = rs.Credentials
		creds.Expiration = rs.Expires() // on this machine's clock
	}
	u, err := console.SigninURL(ctx, console.Options{Endpoint: d.signinEndpoint, HTTPClient: d.broker.HTTPClient()}, console.Input{
		Credentials: aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken},
		Region:      p.prof.Region,
		Path:        in.Path,
	})
	if err != nil {
		return ipc.LoginReply{}, fmt.Errorf("profile %s: console sign-in: %w", p.name, err)
	}
	d.log.Info("console sign-in URL issued", "profile", p.name, "role", p.prof.RoleARN, "session_end", creds.Expiration.UTC())
	return ipc.LoginReply{URL: u, SessionEnd: creds.Expiration, RoleARN: p.prof.RoleARN}, nil
}

// roleCredentials are the role session's credentials with their own expiry
// on this machine's clock (the snapshot's is clipped to the MFA window).
// d.mu is held.
func (p *profState) roleCredentials(snap *snapshot) session.Credentials {
	c := snap.creds
	if p.role != nil && p.role.Credentials.AccessKeyID == c.AccessKeyID {
		c.Expiration = p.role.Expires() // on this machine's clock
	}
	return c
}
