package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/ipc"
)

// Every method of ipc.Control has its route, and nothing else does; each
// route is filed under its own operation.
func TestControlRoutesCoverControl(t *testing.T) {
	routes := controlRoutes()
	if got, want := len(routes), reflect.TypeFor[ipc.Control]().NumMethod(); got != want {
		t.Fatalf("%d routes for the %d methods of ipc.Control: add the route of each new operation to controlRoutes", got, want)
	}
	for name, r := range routes {
		if r.op != name {
			t.Errorf("controlRoutes files the route of %q under %q", r.op, name)
		}
	}
}

// Operations keep their wire names: a CLI keeps working across a daemon
// restart or upgrade, and an `mfad exec` started by an older CLI adopts its
// token again from a newer daemon.
func TestControlWireNamesStay(t *testing.T) {
	routes := controlRoutes()
	for _, op := range []string{"status", "unlock", "lock", "env", "exec", "credentials", "tokens", "revoke", "hold", "adopt", "passphrase"} {
		if _, ok := routes[op]; !ok {
			t.Errorf("no route for operation %q: renaming an operation breaks clients of the previous version", op)
		}
	}
}

// The CLI's client and the daemon's routes speak the same API over a real
// socket, and the daemon's errors keep their codes on the way.
func TestControlOverSocket(t *testing.T) {
	w := newSecWorld(t)
	w.run()
	ctx := context.Background()
	c, err := ipc.Dial(ctx, ipc.SocketPath(w.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	st, err := c.Status(ctx, ipc.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint != w.base || len(st.Profiles) != 2 || !st.Profiles[0].Unlocked {
		t.Fatalf("status = %+v, want both profiles unlocked at %s", st, w.base)
	}
	if _, err := c.Status(ctx, ipc.StatusRequest{Profile: "nope"}); !errors.Is(err, ipc.CodeUnknownProfile) {
		t.Errorf("status of an unknown profile: %v, want code %q", err, ipc.CodeUnknownProfile)
	}
	if _, err := c.Unlock(ctx, ipc.UnlockRequest{Profile: "admin", Code: "12"}); !errors.Is(err, ipc.CodeFailed) {
		t.Errorf("unlock with a malformed code: %v, want code %q", err, ipc.CodeFailed)
	}

	env, err := c.Env(ctx, ipc.EnvRequest{Profile: "work", Label: "control test"})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Tokens(ctx, ipc.TokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(toks.Tokens, func(ti ipc.TokenInfo) bool { return ti.ID == env.TokenID && ti.Label == "control test" }) {
		t.Errorf("tokens = %+v, want %s", toks.Tokens, env.TokenID)
	}
	if rr, err := c.Revoke(ctx, ipc.RevokeRequest{ID: env.TokenID}); err != nil || rr.Revoked.ID != env.TokenID {
		t.Errorf("revoke = %+v, %v", rr, err)
	}

	lr, err := c.Lock(ctx, ipc.LockRequest{All: true})
	if err != nil || len(lr.Locked) == 0 {
		t.Fatalf("lock --all = %+v, %v", lr, err)
	}
	_, err = c.Exec(ctx, ipc.EnvRequest{Profile: "admin"})
	if !errors.Is(err, ipc.CodeLocked) || !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "mfad unlock work") {
		t.Errorf("exec on a locked profile: %v, want code %q and the command that unlocks", err, ipc.CodeLocked)
	}
	if _, err := c.Credentials(ctx, ipc.CredentialsRequest{Profile: "work"}); !errors.Is(err, ipc.CodeLocked) {
		t.Errorf("credentials of a locked profile: %v, want code %q", err, ipc.CodeLocked)
	}
}

// Requests no route takes, or whose body does not fit, get their codes.
func TestControlRejects(t *testing.T) {
	w := newSecWorld(t)
	for _, tc := range []struct {
		op, body string
		want     ipc.Code
	}{
		{"frobnicate", `{}`, ipc.CodeUnknownOp},
		{ipc.OpStatus.Name(), `{"profile":1}`, ipc.CodeBadRequest},
		{ipc.OpUnlock.Name(), `{"profile":"work","code":"123456","extra":true}`, ipc.CodeBadRequest},
	} {
		resp := w.d.ServeIPC(selfConn{ctx: context.Background()}, &ipc.Request{V: ipc.ProtocolVersion, ID: 7, Op: tc.op, Body: json.RawMessage(tc.body)})
		if resp.ID != 7 || resp.Error == nil || !errors.Is(resp.Error, tc.want) {
			t.Errorf("%s %s: response %+v, want code %q", tc.op, tc.body, resp.Error, tc.want)
		}
	}
}
