package ipc

import "context"

// Client implements Control over the control socket.
var _ Control = (*Client)(nil)

// Status implements Control.
func (c *Client) Status(ctx context.Context, in StatusRequest) (StatusReply, error) {
	return call(ctx, c, OpStatus, in)
}

// Unlock implements Control.
func (c *Client) Unlock(ctx context.Context, in UnlockRequest) (ProfileStatus, error) {
	return call(ctx, c, OpUnlock, in)
}

// Lock implements Control.
func (c *Client) Lock(ctx context.Context, in LockRequest) (LockReply, error) {
	return call(ctx, c, OpLock, in)
}

// Env implements Control.
func (c *Client) Env(ctx context.Context, in EnvRequest) (EnvReply, error) {
	return call(ctx, c, OpEnv, in)
}

// Exec implements Control. The token lives as long as this Client's
// connection.
func (c *Client) Exec(ctx context.Context, in EnvRequest) (EnvReply, error) {
	return call(ctx, c, OpExec, in)
}

// Credentials implements Control.
func (c *Client) Credentials(ctx context.Context, in CredentialsRequest) (CredentialsReply, error) {
	return call(ctx, c, OpCredentials, in)
}

// Tokens implements Control.
func (c *Client) Tokens(ctx context.Context, in TokensRequest) (TokensReply, error) {
	return call(ctx, c, OpTokens, in)
}

// Revoke implements Control.
func (c *Client) Revoke(ctx context.Context, in RevokeRequest) (RevokeReply, error) {
	return call(ctx, c, OpRevoke, in)
}

// Hold implements Control. Other calls on this Client wait until it
// returns: hold on a Client of its own.
func (c *Client) Hold(ctx context.Context, in HoldRequest) (HoldReply, error) {
	return call(ctx, c, OpHold, in)
}

// Adopt implements Control.
func (c *Client) Adopt(ctx context.Context, in AdoptRequest) (EnvReply, error) {
	return call(ctx, c, OpAdopt, in)
}

// Passphrase implements Control.
func (c *Client) Passphrase(ctx context.Context, in PassphraseRequest) (StatusReply, error) {
	return call(ctx, c, OpPassphrase, in)
}

// Rotate implements Control.
func (c *Client) Rotate(ctx context.Context, in RotateRequest) (RotateReply, error) {
	return call(ctx, c, OpRotate, in)
}

// Login implements Control.
func (c *Client) Login(ctx context.Context, in LoginRequest) (LoginReply, error) {
	return call(ctx, c, OpLogin, in)
}

// call sends op with in and decodes its reply.
func call[Req, Rep any](ctx context.Context, c *Client, op Op[Req, Rep], in Req) (Rep, error) {
	var out Rep
	err := c.invoke(ctx, op.Name(), in, &out)
	return out, err
}
