package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/ipc"
)

// ProfileStatus is one profile's state as the control protocol reports it.
type ProfileStatus = ipc.ProfileStatus

// Status reports the state of the named profiles (all when none is named).
func (d *Daemon) Status(names ...string) []ProfileStatus {
	if len(names) == 0 {
		names = d.names
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ProfileStatus, 0, len(names))
	for _, n := range names {
		p, ok := d.profiles[n]
		if !ok {
			continue
		}
		k := p.key
		st := ProfileStatus{Profile: n, KeyProfile: k.name, RoleARN: p.prof.RoleARN, MFASerial: k.prof.MFASerial,
			MFASource: k.prof.MFASource, MFAMaxAgeSeconds: int64(k.prof.MFAMaxAge / time.Second)}
		if d.base != "" {
			st.URL = d.base + CredentialsPath + n
		}
		if max, ok := d.suggested[k.name]; ok && k.prof.MFAMaxAge == 0 {
			st.SuggestedMFAMaxAgeSeconds = int64(max / time.Second)
		}
		if m := k.mfa; m != nil && m.Valid(now, 0) {
			st.Unlocked = true
			st.MFAAt = m.MFAAt
			st.MFAAgeSeconds = int64(m.MFAAge(now) / time.Second)
			st.SessionExpiration = m.Credentials.Expiration
			st.WindowLapsed = k.prof.MFAMaxAge > 0 && !now.Before(m.MFAAt.Add(k.prof.MFAMaxAge))
			st.NeedCode, st.CodeReason = k.needCode, k.codeReason
			if k.needCode && st.WindowLapsed {
				st.CodeReason = fmt.Sprintf("the MFA window of profile %s closed at %s", k.name, m.MFAAt.Add(k.prof.MFAMaxAge).Local().Format("15:04"))
			}
		}
		if p.role != nil {
			st.RoleExpiration = p.role.Credentials.Expiration
		}
		if snap := p.served.Load(); snap != nil {
			st.ServedExpiration = snap.expires
		}
		if k.timer != nil {
			st.NextRefresh = k.timerAt
		}
		st.LastError = p.lastErr
		if st.LastError == "" {
			st.LastError = k.codeErr
		}
		out = append(out, st)
	}
	return out
}

// statusReply is the daemon's state for the named profiles (all when none).
func (d *Daemon) statusReply(names ...string) ipc.StatusReply {
	d.mu.Lock()
	base := d.base
	d.mu.Unlock()
	r := ipc.StatusReply{Endpoint: base, PID: os.Getpid(), Keystore: d.store.Backend(), Profiles: d.Status(names...)}
	if file := d.keystoreWaiting(); file != "" {
		r.KeystoreLocked, r.KeystoreFile = true, file
	}
	return r
}

// ServeIPC answers the mfad CLI on the control socket.
func (d *Daemon) ServeIPC(c ipc.Conn, req *ipc.Request) *ipc.Response {
	ctx := c.Context()
	body, err := d.dispatch(ctx, c, req)
	resp := &ipc.Response{V: ipc.ProtocolVersion, ID: req.ID}
	if err != nil {
		var ie *ipc.Error
		if errors.As(err, &ie) {
			resp.Error = ie
		} else {
			code := "failed"
			if errors.Is(err, ErrLocked) {
				code = "locked"
			}
			resp.Error = &ipc.Error{Code: code, Message: err.Error()}
		}
		return resp
	}
	b, err := json.Marshal(body)
	if err != nil {
		resp.Error = &ipc.Error{Code: "internal", Message: "encode reply: " + err.Error()}
		return resp
	}
	resp.Body = b
	return resp
}

func decode[T any](req *ipc.Request) (T, error) {
	var v T
	if len(req.Body) == 0 {
		return v, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(req.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, &ipc.Error{Code: "bad_request", Message: fmt.Sprintf("malformed %s request: %v", req.Op, err)}
	}
	return v, nil
}

func (d *Daemon) dispatch(ctx context.Context, c ipc.Conn, req *ipc.Request) (any, error) {
	switch req.Op {
	case ipc.OpStatus:
		in, err := decode[ipc.StatusRequest](req)
		if err != nil {
			return nil, err
		}
		var names []string
		if in.Profile != "" {
			if _, err := d.profile(in.Profile); err != nil {
				return nil, err
			}
			names = []string{in.Profile}
		}
		return d.statusReply(names...), nil
	case ipc.OpPassphrase:
		in, err := decode[ipc.PassphraseRequest](req)
		if err != nil {
			return nil, err
		}
		if err := d.GivePassphrase(ctx, []byte(in.Passphrase)); err != nil {
			return nil, err
		}
		return d.statusReply(), nil
	case ipc.OpUnlock:
		in, err := decode[ipc.UnlockRequest](req)
		if err != nil {
			return nil, err
		}
		if in.FromSource && in.Code == "" {
			return d.UnlockFromSource(ctx, in.Profile)
		}
		return d.Unlock(ctx, in.Profile, in.Code)
	case ipc.OpLock:
		in, err := decode[ipc.LockRequest](req)
		if err != nil {
			return nil, err
		}
		var names []string
		if in.All {
			names, err = d.LockAll(ctx)
		} else {
			names, err = d.Lock(ctx, in.Profile)
		}
		return ipc.LockReply{Locked: names}, err
	case ipc.OpEnv, ipc.OpExec:
		in, err := decode[ipc.EnvRequest](req)
		if err != nil {
			return nil, err
		}
		kind := TokenEnv
		if req.Op == ipc.OpExec {
			kind = TokenExec
			// A command started on a locked profile would only meet
			// errors: say so before it starts.
			if err := d.checkUnlocked(in.Profile); err != nil {
				return nil, err
			}
		}
		return d.issueClientToken(c, kind, in)
	case ipc.OpCredentials:
		in, err := decode[ipc.CredentialsRequest](req)
		if err != nil {
			return nil, err
		}
		cr, err := d.Credentials(ctx, in.Profile)
		if err != nil {
			return nil, err
		}
		d.audit.Record(audit.Entry{Event: audit.Fetch, Via: audit.ViaCredentialProcess, Profile: in.Profile, Status: 200, PID: c.Peer().PID})
		return ipc.CredentialsReply{Version: 1, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey,
			SessionToken: cr.SessionToken, Expiration: cr.Expiration.UTC()}, nil
	case ipc.OpTokens:
		var out ipc.TokensReply
		for _, t := range d.tokens.list() {
			out.Tokens = append(out.Tokens, ipc.TokenInfo{ID: t.ID, Kind: t.Kind, Profile: t.Profile, Label: t.Label, Created: t.Created})
		}
		return out, nil
	case ipc.OpHold:
		// Answered only when the daemon stops or the client goes away.
		select {
		case <-ctx.Done():
		case <-d.bg.Done():
		}
		return struct{}{}, nil
	case ipc.OpAdopt:
		in, err := decode[ipc.AdoptRequest](req)
		if err != nil {
			return nil, err
		}
		return d.adopt(c, in)
	case ipc.OpRevoke:
		in, err := decode[ipc.RevokeRequest](req)
		if err != nil {
			return nil, err
		}
		t, err := d.revokeToken(in.ID)
		if err != nil {
			return nil, err
		}
		return ipc.RevokeReply{Revoked: ipc.TokenInfo{ID: t.ID, Kind: t.Kind, Profile: t.Profile, Label: t.Label, Created: t.Created}}, nil
	}
	return nil, &ipc.Error{Code: "unknown_op", Message: fmt.Sprintf("unknown operation %q: the mfad CLI and daemon versions differ; restart the daemon", req.Op)}
}

// checkUnlocked returns a locked error when name has no valid MFA session.
func (d *Daemon) checkUnlocked(name string) error {
	p, err := d.profile(name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := p.key.mfa; m == nil || !m.Valid(d.clock.Now(), minServe) {
		return lockedError(p)
	}
	return nil
}

// issueClientToken hands out a token scoped to one profile. Exec tokens are
// revoked when the requesting connection (the `mfad exec` process) closes.
func (d *Daemon) issueClientToken(c ipc.Conn, kind string, in ipc.EnvRequest) (ipc.EnvReply, error) {
	p, err := d.profile(in.Profile)
	if err != nil {
		return ipc.EnvReply{}, err
	}
	if d.base == "" {
		return ipc.EnvReply{}, errors.New("the credentials endpoint is not running")
	}
	t, err := d.tokens.issue(kind, p.name, in.Label, d.clock.Now())
	if err != nil {
		return ipc.EnvReply{}, err
	}
	t.PID = c.Peer().PID
	file, err := d.persistToken(t)
	if err != nil {
		d.tokens.revoke(t.ID)
		return ipc.EnvReply{}, err
	}
	if kind == TokenExec {
		d.revokeOnClose(c, t.ID)
	}
	d.log.Info("token issued", "token", t.ID, "kind", kind, "profile", p.name, "pid", t.PID)
	d.auditToken(audit.TokenIssued, t, t.PID, "")
	return ipc.EnvReply{URL: d.base + CredentialsPath + p.name, Token: t.Value, TokenFile: file, TokenID: t.ID, Region: p.prof.Region}, nil
}

// revokeOnClose revokes an exec token when its `mfad exec` connection
// closes — unless the daemon itself is stopping, since the next daemon
// honours the token until its `mfad exec` adopts it again.
func (d *Daemon) revokeOnClose(c ipc.Conn, id string) {
	go func() {
		<-c.Context().Done()
		if d.stopping.Load() {
			return
		}
		if _, err := d.revokeToken(id); err == nil {
			d.log.Debug("exec token revoked", "token", id)
		}
	}()
}

// adopt binds a restored exec token to the connection of the `mfad exec`
// that holds it.
func (d *Daemon) adopt(c ipc.Conn, in ipc.AdoptRequest) (ipc.EnvReply, error) {
	e := d.tokens.check(in.Token)
	if e == nil || e.Kind != TokenExec {
		return ipc.EnvReply{}, errors.New("unknown or revoked exec token")
	}
	if tm, ok := d.orphans.LoadAndDelete(e.ID); ok {
		tm.(interface{ Stop() bool }).Stop()
	}
	d.revokeOnClose(c, e.ID)
	p := d.profiles[e.Profile]
	d.log.Info("exec token adopted after a restart", "token", e.ID, "pid", c.Peer().PID)
	return ipc.EnvReply{URL: d.base + CredentialsPath + e.Profile, Token: e.Value, TokenFile: e.File, TokenID: e.ID, Region: p.prof.Region}, nil
}

// revokeToken revokes a client token and removes its file.
func (d *Daemon) revokeToken(id string) (Token, error) {
	t, ok := d.tokens.revoke(id)
	if !ok {
		return Token{}, fmt.Errorf("no token %q: list tokens with `mfad tokens list`", id)
	}
	if tm, ok := d.orphans.LoadAndDelete(id); ok {
		tm.(interface{ Stop() bool }).Stop()
	}
	d.auditToken(audit.TokenRevoked, t, 0, "")
	if t.File != "" && t.Kind != TokenDaemon {
		if err := removeTokenFiles(t.File); err != nil {
			d.log.Warn("could not remove token file", "file", t.File, "error", err)
		}
	}
	return t, nil
}
