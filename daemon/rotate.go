package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
	"github.com/c0950fac/mfad/rotate"
)

// rotateMargin is the least lifetime an MFA session needs to carry a
// rotation through (verification may wait for IAM for up to a minute).
const rotateMargin = 5 * time.Minute

// noteKey records which access key a key profile has stored.
func (d *Daemon) noteKey(k *keyState, key keystore.AccessKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k.keyID, k.keyCreated = key.AccessKeyID, key.Created
}

// learnKeyCreated asks IAM, in the background, when k's stored key was
// created, when key_max_age needs it and mfad does not know it (a key
// added with `mfad add`), and records it with the key.
func (d *Daemon) learnKeyCreated(k *keyState) {
	d.mu.Lock()
	mfa, id := k.mfa, k.keyID
	need := k.prof.KeyMaxAge > 0 && k.keyCreated.IsZero() && id != "" && mfa != nil && !d.closed
	if need {
		d.wg.Add(1)
	}
	d.mu.Unlock()
	if !need {
		return
	}
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.bg, time.Minute)
		defer cancel()
		c := mfa.Credentials
		created, err := rotate.KeyCreated(ctx, rotate.Options{IAMEndpoint: d.iamEndpoint, HTTPClient: d.broker.HTTPClient(), Clock: d.clock, ClockOffset: d.broker.ClockOffset, Logger: d.log},
			k.prof.Region, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "mfad"}, id)
		if err != nil {
			d.log.Info("could not learn the access key's age from IAM", "profile", k.name, "error", err)
			return
		}
		k.keyMu.Lock()
		defer k.keyMu.Unlock()
		key, err := keystore.GetAccessKey(ctx, d.store, k.name)
		if err != nil || key.AccessKeyID != id || !key.Created.IsZero() {
			return
		}
		key.Created = created
		if err := keystore.PutAccessKey(ctx, d.store, k.name, key); err != nil {
			d.log.Warn("could not record the access key's creation time", "profile", k.name, "error", err)
			return
		}
		d.noteKey(k, key)
		d.log.Info("learned the access key's creation time from IAM", "profile", k.name, "key", id, "created", created)
	}()
}

// RotateKey replaces the long-term access key of name's key profile
// through its MFA session (see package rotate). The new key is stored
// before the old one is deleted; the sessions being served are not
// touched, so clients notice nothing, and the next unlock uses the new key.
func (d *Daemon) RotateKey(ctx context.Context, name string) (ipc.RotateReply, error) {
	p, err := d.profile(name)
	if err != nil {
		return ipc.RotateReply{}, err
	}
	k := p.key
	d.mu.Lock()
	mfa := k.mfa
	valid := mfa != nil && mfa.Valid(d.clock.Now(), rotateMargin)
	d.mu.Unlock()
	if !valid {
		return ipc.RotateReply{}, fmt.Errorf("rotating the key of %s needs its MFA session (IAM denies key changes without MFA under an MFA policy): %w", k.name, lockedError(p))
	}
	// One rotation at a time, and no unlock reading the key meanwhile.
	k.keyMu.Lock()
	defer k.keyMu.Unlock()
	old, err := keystore.GetAccessKey(ctx, d.store, k.name)
	if err != nil {
		if errors.Is(err, keystore.ErrNotFound) {
			return ipc.RotateReply{}, fmt.Errorf("profile %s has no access key in the %s keystore to rotate", k.name, d.store.Backend())
		}
		return ipc.RotateReply{}, err
	}
	region := k.prof.Region
	c := mfa.Credentials
	res, err := rotate.Rotate(ctx, rotate.Options{
		IAMEndpoint: d.iamEndpoint,
		HTTPClient:  d.broker.HTTPClient(),
		Clock:       d.clock,
		ClockOffset: d.broker.ClockOffset,
		Logger:      d.log,
		Verify: func(ctx context.Context, key keystore.AccessKey) (string, error) {
			return d.broker.CallerIdentity(ctx, region, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, Source: "mfad"})
		},
	}, rotate.Input{
		Profile: k.name,
		Region:  region,
		Session: aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "mfad"},
		Old:     old,
		Store: func(ctx context.Context, key keystore.AccessKey) error {
			if err := keystore.PutAccessKey(ctx, d.store, k.name, key); err != nil {
				return err
			}
			d.noteKey(k, key)
			return nil
		},
	})
	if err != nil {
		d.log.Warn("key rotation failed", "profile", k.name, "error", err)
		return ipc.RotateReply{}, fmt.Errorf("rotate the access key of %s: %w", k.name, err)
	}
	d.log.Info("access key rotated", "profile", k.name, "old", res.OldKeyID, "new", res.NewKeyID)
	return ipc.RotateReply{KeyProfile: k.name, OldKeyID: res.OldKeyID, NewKeyID: res.NewKeyID, Created: res.Created,
		UserARN: res.UserARN, VerifyAttempts: res.VerifyAttempts}, nil
}
