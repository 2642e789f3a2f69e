package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/internal/audit"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

// TestAuditRecordsSigninsAndRotations: console sign-ins and key rotations
// made over the control socket are audited, without the URL or the key.
func TestAuditRecordsSigninsAndRotations(t *testing.T) {
	w := newSecWorld(t)
	w.d.signinEndpoint = w.e.Emu.URL + stsemu.FederationPath
	w.d.iamEndpoint = w.e.Emu.URL
	w.run()
	ctx := context.Background()
	var lr ipc.LoginReply
	if err := call(ctx, w, ipc.OpLogin, ipc.LoginRequest{Profile: "admin"}, &lr); err != nil {
		t.Fatal(err)
	}
	var rr ipc.RotateReply
	if err := call(ctx, w, ipc.OpRotate, ipc.RotateRequest{Profile: "work"}, &rr); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the audit lines", func() bool { return strings.Contains(w.audit.String(), audit.KeyRotated) })
	w.stop()
	log := w.audit.String()
	var signins, rotations int
	for _, e := range auditEntries(t, log) {
		switch e.Event {
		case audit.ConsoleSignin:
			signins++
			if e.Profile != "admin" || e.PID == 0 || e.Via != audit.ViaControl {
				t.Errorf("sign-in line %+v", e)
			}
		case audit.KeyRotated:
			rotations++
			if e.Profile != "work" || e.PID == 0 {
				t.Errorf("rotation line %+v", e)
			}
		}
	}
	if signins != 1 || rotations != 1 {
		t.Fatalf("%d sign-in and %d rotation lines:\n%s", signins, rotations, log)
	}
	token := lr.URL[strings.Index(lr.URL, "SigninToken="):]
	key, err := keystore.GetAccessKey(ctx, w.e.Store, "work")
	if err != nil || key.AccessKeyID != rr.NewKeyID {
		t.Fatalf("stored key %v %v", key, err)
	}
	testenv.AssertNoSecret(t, "audit log", log, token, key.SecretAccessKey)
	testenv.AssertNoSecret(t, "daemon log", w.e.Log.String(), token, key.SecretAccessKey)
}
