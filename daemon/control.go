package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/session"
)

// ProfileStatus is one profile's state as the control protocol reports it.
type ProfileStatus = ipc.ProfileStatus

// Status reports the state of the named profiles (all when none is named).
func (d *Daemon) Status(names ...string) []ProfileStatus {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.t()
	if len(names) == 0 {
		names = t.names
	}
	out := make([]ProfileStatus, 0, len(names))
	for _, n := range names {
		p, ok := t.profiles[n]
		if !ok {
			continue
		}
		k := p.key
		st := ProfileStatus{Profile: n, KeyProfile: k.name, RoleARN: p.prof.RoleARN, MFASerial: k.prof.MFASerial,
			MFASource: k.prof.MFASource, MFAMaxAgeSeconds: int64(k.prof.MFAMaxAge / time.Second)}
		if d.base != "" {
			st.URL = d.base + CredentialsPath + n
		}
		if max, ok := t.suggested[k.name]; ok && k.prof.MFAMaxAge == 0 {
			st.SuggestedMFAMaxAgeSeconds = int64(max / time.Second)
		}
		if m := k.mfa; m != nil && m.Valid(now, 0) {
			st.Unlocked = true
			st.MFAAt = m.MFAAt
			st.MFAAgeSeconds = int64(m.MFAAge(now) / time.Second)
			st.SessionExpiration = m.Expires()
			st.WindowLapsed = k.prof.MFAMaxAge > 0 && !now.Before(m.MFAAt.Add(k.prof.MFAMaxAge))
			st.NeedCode, st.CodeReason = k.needCode, k.codeReason
			if k.needCode && st.WindowLapsed {
				st.CodeReason = fmt.Sprintf("the MFA window of profile %s closed at %s", k.name, m.MFAAt.Add(k.prof.MFAMaxAge).Local().Format("15:04"))
			}
		}
		if p.locked {
			st.Unlocked, st.RoleLocked = false, true
			st.NeedCode, st.CodeReason, st.WindowLapsed = false, "", false
		}
		if p.role != nil {
			st.RoleExpiration = p.role.Expires()
		}
		if snap := p.served.Load(); snap != nil {
			st.ServedExpiration = snap.expires
		}
		if k.timer != nil {
			st.NextRefresh = k.timerAt
		}
		st.AccessKeyID, st.KeyCreated = k.keyID, k.keyCreated
		if max := k.prof.KeyMaxAge; max > 0 {
			st.KeyMaxAgeSeconds = int64(max / time.Second)
			st.RotationDue = !k.keyCreated.IsZero() && !now.Before(k.keyCreated.Add(max))
		}
		if p.kicked.Load() {
			st.NextRefresh = now // a renewal is under way
		}
		if p.isRole() {
			st.ShortLifetimeSeconds = int64(p.shortLife / time.Second)
		} else {
			st.ShortLifetimeSeconds = int64(k.shortLife / time.Second)
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
	r := ipc.StatusReply{Endpoint: base, PID: os.Getpid(), Keystore: d.store.Backend(), Profiles: d.Status(names...), ConfigError: d.ConfigError()}
	if file := d.keystoreWaiting(); file != "" {
		r.KeystoreLocked, r.KeystoreFile = true, file
	}
	if off, _ := d.broker.ClockSkew(); off.Abs() >= session.SkewWarn {
		r.ClockSkewSeconds = int64(off / time.Second)
	}
	return r
}

// ServeIPC answers the mfad CLI on the control socket: it finds the
// request's route and turns the handler's error into an *ipc.Error whose
// Code is the ipc.Code the error wraps (ipc.CodeFailed when none).
func (d *Daemon) ServeIPC(c ipc.Conn, req *ipc.Request) *ipc.Response {
	resp := &ipc.Response{V: ipc.ProtocolVersion, ID: req.ID}
	r, ok := d.routes[req.Op]
	if !ok {
		resp.Error = &ipc.Error{Code: ipc.CodeUnknownOp, Message: fmt.Sprintf("unknown operation %q: the mfad CLI and daemon versions differ; restart the daemon", req.Op)}
		return resp
	}
	body, err := r.serve(&control{d: d, conn: c}, c.Context(), req)
	if err != nil {
		resp.Error = controlError(err)
		return resp
	}
	b, err := json.Marshal(body)
	if err != nil {
		resp.Error = &ipc.Error{Code: ipc.CodeInternal, Message: "encode reply: " + err.Error()}
		return resp
	}
	resp.Body = b
	return resp
}

// controlError is err as the control protocol reports it: with the
// ipc.Code it wraps, or the code of a sentinel error of another package.
func controlError(err error) *ipc.Error {
	var ie *ipc.Error
	if errors.As(err, &ie) {
		return ie
	}
	code := ipc.CodeFailed
	switch {
	case errors.As(err, &code):
	case errors.Is(err, configs.ErrUnknownProfile):
		code = ipc.CodeUnknownProfile
	}
	return &ipc.Error{Code: code, Message: err.Error()}
}

// route answers one operation.
type route struct {
	// op is the operation's name (its key in the route table must be it).
	op string
	// serve decodes a request's body, calls the handler and returns the
	// reply.
	serve func(c *control, ctx context.Context, req *ipc.Request) (any, error)
}

// handle makes the route of op from its handler, a method of control: the
// compiler checks that the handler takes op's request and returns its reply.
func handle[Req, Rep any](op ipc.Op[Req, Rep], h func(*control, context.Context, Req) (Rep, error)) route {
	return route{op: op.Name(), serve: func(c *control, ctx context.Context, req *ipc.Request) (any, error) {
		var in Req
		if len(req.Body) > 0 {
			dec := json.NewDecoder(bytes.NewReader(req.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("malformed %s request: %v", req.Op, err)}
			}
		}
		return h(c, ctx, in)
	}}
}

// controlRoutes is the route table of the control socket: one line per
// operation of ipc.Control.
func controlRoutes() map[string]route {
	return map[string]route{
		ipc.OpStatus.Name():      handle(ipc.OpStatus, (*control).Status),
		ipc.OpUnlock.Name():      handle(ipc.OpUnlock, (*control).Unlock),
		ipc.OpLock.Name():        handle(ipc.OpLock, (*control).Lock),
		ipc.OpEnv.Name():         handle(ipc.OpEnv, (*control).Env),
		ipc.OpExec.Name():        handle(ipc.OpExec, (*control).Exec),
		ipc.OpCredentials.Name(): handle(ipc.OpCredentials, (*control).Credentials),
		ipc.OpTokens.Name():      handle(ipc.OpTokens, (*control).Tokens),
		ipc.OpRevoke.Name():      handle(ipc.OpRevoke, (*control).Revoke),
		ipc.OpHold.Name():        handle(ipc.OpHold, (*control).Hold),
		ipc.OpAdopt.Name():       handle(ipc.OpAdopt, (*control).Adopt),
		ipc.OpPassphrase.Name():  handle(ipc.OpPassphrase, (*control).Passphrase),
		ipc.OpRotate.Name():      handle(ipc.OpRotate, (*control).Rotate),
		ipc.OpLogin.Name():       handle(ipc.OpLogin, (*control).Login),
	}
}

// control is the daemon's ipc.Control for one connection of the control
// socket: conn says who asks, and its context ends when they hang up.
type control struct {
	d    *Daemon
	conn ipc.Conn
}

var _ ipc.Control = (*control)(nil)

// Status implements ipc.Control.
func (c *control) Status(_ context.Context, in ipc.StatusRequest) (ipc.StatusReply, error) {
	d := c.d
	var names []string
	if in.Profile != "" {
		if _, err := d.profile(in.Profile); err != nil {
			return ipc.StatusReply{}, err
		}
		names = []string{in.Profile}
	}
	return d.statusReply(names...), nil
}

// Passphrase implements ipc.Control.
func (c *control) Passphrase(ctx context.Context, in ipc.PassphraseRequest) (ipc.StatusReply, error) {
	if err := c.d.GivePassphrase(ctx, []byte(in.Passphrase)); err != nil {
		return ipc.StatusReply{}, err
	}
	return c.d.statusReply(), nil
}

// Rotate implements ipc.Control.
func (c *control) Rotate(ctx context.Context, in ipc.RotateRequest) (ipc.RotateReply, error) {
	r, err := c.d.RotateKey(ctx, in.Profile)
	if err == nil {
		c.d.audit.Record(peerEntry(audit.Entry{Event: audit.KeyRotated, Via: audit.ViaControl, Profile: r.KeyProfile}, c.conn.Peer()))
	}
	return r, err
}

// Login implements ipc.Control.
func (c *control) Login(ctx context.Context, in ipc.LoginRequest) (ipc.LoginReply, error) {
	r, err := c.d.Login(ctx, in)
	if err == nil {
		c.d.audit.Record(peerEntry(audit.Entry{Event: audit.ConsoleSignin, Via: audit.ViaControl, Profile: in.Profile}, c.conn.Peer()))
	}
	return r, err
}

// Unlock implements ipc.Control.
func (c *control) Unlock(ctx context.Context, in ipc.UnlockRequest) (ipc.ProfileStatus, error) {
	if in.FromSource && in.Code == "" {
		return c.d.UnlockFromSource(ctx, in.Profile)
	}
	return c.d.Unlock(ctx, in.Profile, in.Code)
}

// Lock implements ipc.Control.
func (c *control) Lock(ctx context.Context, in ipc.LockRequest) (ipc.LockReply, error) {
	var names []string
	var err error
	if in.All {
		names, err = c.d.LockAll(ctx)
	} else {
		names, err = c.d.Lock(ctx, in.Profile)
	}
	return ipc.LockReply{Locked: names}, err
}

// Env implements ipc.Control.
func (c *control) Env(_ context.Context, in ipc.EnvRequest) (ipc.EnvReply, error) {
	return c.d.issueClientToken(c.conn, TokenEnv, in)
}

// Exec implements ipc.Control.
func (c *control) Exec(_ context.Context, in ipc.EnvRequest) (ipc.EnvReply, error) {
	// A command started on a locked profile would only meet errors: say so
	// before it starts.
	if err := c.d.checkUnlocked(in.Profile); err != nil {
		return ipc.EnvReply{}, err
	}
	return c.d.issueClientToken(c.conn, TokenExec, in)
}

// Credentials implements ipc.Control.
func (c *control) Credentials(ctx context.Context, in ipc.CredentialsRequest) (ipc.CredentialsReply, error) {
	cr, err := c.d.Credentials(ctx, in.Profile)
	if err != nil {
		return ipc.CredentialsReply{}, err
	}
	c.d.audit.Record(peerEntry(audit.Entry{Event: audit.Fetch, Via: audit.ViaCredentialProcess, Profile: in.Profile, Status: 200}, c.conn.Peer()))
	return ipc.CredentialsReply{Version: 1, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey,
		SessionToken: cr.SessionToken, Expiration: cr.Expiration.UTC()}, nil
}

// Tokens implements ipc.Control.
func (c *control) Tokens(context.Context, ipc.TokensRequest) (ipc.TokensReply, error) {
	var out ipc.TokensReply
	for _, t := range c.d.tokens.list() {
		i := t.info()
		i.Stale = t.WatchPID > 0 && !processAlive(t.WatchPID)
		out.Tokens = append(out.Tokens, i)
	}
	return out, nil
}

// Revoke implements ipc.Control.
func (c *control) Revoke(_ context.Context, in ipc.RevokeRequest) (ipc.RevokeReply, error) {
	t, err := c.d.revokeToken(in.ID)
	if err != nil {
		return ipc.RevokeReply{}, err
	}
	return ipc.RevokeReply{Revoked: t.info()}, nil
}

// Hold implements ipc.Control: it answers only when the daemon stops or the
// client goes away.
func (c *control) Hold(ctx context.Context, _ ipc.HoldRequest) (ipc.HoldReply, error) {
	select {
	case <-ctx.Done():
	case <-c.d.bg.Done():
	}
	return ipc.HoldReply{}, nil
}

// Adopt implements ipc.Control.
func (c *control) Adopt(_ context.Context, in ipc.AdoptRequest) (ipc.EnvReply, error) {
	return c.d.adopt(c.conn, in)
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
	if kind == TokenEnv && in.WatchPID > 0 {
		// A holder this daemon cannot see (another pid namespace) is not
		// watched: the token would end at once.
		if processAlive(in.WatchPID) {
			t.WatchPID = in.WatchPID
			d.tokens.setWatch(t.ID, t.WatchPID)
		} else {
			d.log.Warn("the process to hand a token to is not visible to the daemon: the token lasts until revoked", "token", t.ID, "pid", in.WatchPID)
		}
	}
	file, err := d.persistToken(t)
	if err != nil {
		d.tokens.revoke(t.ID)
		return ipc.EnvReply{}, err
	}
	if kind == TokenExec {
		d.revokeOnClose(c, t.ID)
	}
	if t.WatchPID > 0 {
		d.watchHolder(t.ID, t.WatchPID)
	}
	d.log.Info("token issued", "token", t.ID, "kind", kind, "profile", p.name, "pid", t.PID)
	d.audit.Record(peerEntry(audit.Entry{Event: audit.TokenIssued, Via: audit.ViaControl, Profile: t.Profile, TokenID: t.ID,
		TokenKind: t.Kind, Label: t.Label}, c.Peer()))
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
	p := d.t().profiles[e.Profile]
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

// info describes t without its value.
func (t Token) info() ipc.TokenInfo {
	return ipc.TokenInfo{ID: t.ID, Kind: t.Kind, Profile: t.Profile, Label: t.Label, Created: t.Created, WatchPID: t.WatchPID}
}
