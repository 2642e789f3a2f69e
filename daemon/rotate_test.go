package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
	"github.com/c0950fac/mfad/internal/testenv"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

// rotationWorld is a daemon unlocked on e, whose user is under the MFA
// policy, with IAM on the emulator.
func rotationWorld(t *testing.T) (*testenv.Env, *daemon.Daemon) {
	t.Helper()
	e := testenv.New(t)
	if err := e.Emu.RequireMFA(e.User.Name); err != nil {
		t.Fatal(err)
	}
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.IAMEndpoint = e.Emu.URL })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unlock(context.Background(), "admin", e.Code()); err != nil {
		t.Fatal(err)
	}
	return e, d
}

func storedKey(t *testing.T, e *testenv.Env) keystore.AccessKey {
	t.Helper()
	k, err := keystore.GetAccessKey(context.Background(), e.Store, "work")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyIDs(keys []stsemu.AccessKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestRotateReplacesTheKeyWhileServing(t *testing.T) {
	e, d := rotationWorld(t)
	ctx := context.Background()
	before, err := d.Credentials(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	old := e.User.AccessKeyID

	// A role profile rotates its source profile's key.
	r, err := d.RotateKey(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyProfile != "work" || r.OldKeyID != old || r.NewKeyID == old || r.VerifyAttempts != 1 || !strings.HasSuffix(r.UserARN, ":user/alice") {
		t.Fatalf("reply %+v", r)
	}
	k := storedKey(t, e)
	if k.AccessKeyID != r.NewKeyID || k.Created.IsZero() || !k.Created.Equal(r.Created) {
		t.Fatalf("stored %v created %v; reply %+v", k, k.Created, r)
	}
	if ids := keyIDs(e.Emu.AccessKeys("alice")); len(ids) != 1 || ids[0] != r.NewKeyID {
		t.Fatalf("keys in IAM after the rotation: %v", ids)
	}
	// The sessions served before are served still.
	for _, name := range []string{"work", "admin"} {
		if _, err := d.Credentials(ctx, name); err != nil {
			t.Fatalf("%s after the rotation: %v", name, err)
		}
	}
	after, _ := d.Credentials(ctx, "admin")
	if after.AccessKeyID != before.AccessKeyID {
		t.Errorf("the rotation changed the served credentials")
	}
	st := d.Status("work")[0]
	if st.AccessKeyID != r.NewKeyID || !st.KeyCreated.Equal(r.Created) {
		t.Errorf("status after the rotation: %+v", st)
	}

	// The next unlock signs GetSessionToken with the new key.
	if _, err := d.Lock(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	e.Emu.ResetCalls()
	if _, err := d.Unlock(ctx, "work", e.NextCode()); err != nil {
		t.Fatalf("unlock with the new key: %v", err)
	}
	for _, c := range e.Emu.Calls() {
		if c.Action == "GetSessionToken" && c.AccessKeyID != r.NewKeyID {
			t.Errorf("GetSessionToken signed with %s, want the new key %s", c.AccessKeyID, r.NewKeyID)
		}
	}
	testenv.AssertNoSecret(t, "the daemon log", e.Log.String(), append(e.Secrets(), k.SecretAccessKey)...)
}

func TestRotateAtTheTwoKeyLimitCreatesNothing(t *testing.T) {
	e, d := rotationWorld(t)
	second, _, err := e.Emu.AddAccessKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.RotateKey(context.Background(), "work")
	if err == nil {
		t.Fatal("rotation at two keys went through")
	}
	for _, want := range []string{"two access keys", second, "delete-access-key --access-key-id " + second, "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.Count("CreateAccessKey"); n != 0 {
		t.Errorf("%d CreateAccessKey calls", n)
	}
	if k := storedKey(t, e); k.AccessKeyID != e.User.AccessKeyID {
		t.Errorf("stored key changed to %s", k.AccessKeyID)
	}
}

func TestRotateFailureAfterCreationNamesTheOldKey(t *testing.T) {
	e, d := rotationWorld(t)
	// Every attempt of the old key's deletion fails.
	e.Emu.InjectFault(stsemu.Fault{Action: "DeleteAccessKey", Code: "ServiceUnavailable", Times: 10})
	_, err := d.RotateKey(context.Background(), "work")
	if err == nil {
		t.Fatal("rotation went through")
	}
	k := storedKey(t, e)
	if k.AccessKeyID == e.User.AccessKeyID {
		t.Fatal("the new key is not stored")
	}
	want := "new key " + k.AccessKeyID + " created and stored, old key not deleted"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "delete "+e.User.AccessKeyID+" in IAM") {
		t.Fatalf("error %q; want %q and the old key named", err, want)
	}
	if ids := keyIDs(e.Emu.AccessKeys("alice")); len(ids) != 2 {
		t.Fatalf("keys in IAM: %v", ids)
	}
	// The stored key works.
	if _, err := d.Lock(context.Background(), "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unlock(context.Background(), "work", e.NextCode()); err != nil {
		t.Fatalf("unlock with the stored key: %v", err)
	}
}

func TestRotateWaitsForTheNewKeyToWork(t *testing.T) {
	e, d := rotationWorld(t)
	// IAM is eventually consistent: the new key is unknown to STS twice.
	e.Emu.InjectFault(stsemu.Fault{Action: "GetCallerIdentity", Status: 403, Code: "InvalidClientTokenId",
		Message: "The security token included in the request is invalid.", Times: 3})
	type result struct {
		r   ipc.RotateReply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := d.RotateKey(context.Background(), "work")
		done <- result{r, err}
	}()
	// The first fault meets the old key's identity check; the next two the
	// new key. Move the fake clock past each wait.
	for {
		select {
		case res := <-done:
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.r.VerifyAttempts != 3 {
				t.Errorf("verified after %d attempts, want 3", res.r.VerifyAttempts)
			}
			return
		case <-time.After(time.Millisecond):
			e.Clock.Advance(time.Second)
		}
	}
}

func TestRotateVerificationFailurePutsTheOldKeyBack(t *testing.T) {
	e, d := rotationWorld(t)
	e.Emu.InjectFault(stsemu.Fault{Action: "GetCallerIdentity", Status: 403, Code: "AccessDenied", Message: "denied", Times: 2})
	_, err := d.RotateKey(context.Background(), "work")
	if err == nil || !strings.Contains(err.Error(), "did not work") || !strings.Contains(err.Error(), "old key "+e.User.AccessKeyID+" is stored again") {
		t.Fatalf("error %v", err)
	}
	if k := storedKey(t, e); k.AccessKeyID != e.User.AccessKeyID {
		t.Errorf("stored key is %s, want the old one back", k.AccessKeyID)
	}
	if ids := keyIDs(e.Emu.AccessKeys("alice")); len(ids) != 1 || ids[0] != e.User.AccessKeyID {
		t.Errorf("keys in IAM: %v, want only the old one", ids)
	}
}

func TestRotateNeedsTheMFASession(t *testing.T) {
	e := testenv.New(t)
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.IAMEndpoint = e.Emu.URL })
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.RotateKey(context.Background(), "work")
	if !errors.Is(err, daemon.ErrLocked) || !strings.Contains(err.Error(), "mfad unlock work") {
		t.Fatalf("rotation of a locked profile: %v", err)
	}
	if e.Count("") != 0 {
		t.Errorf("a locked rotation called AWS")
	}
}

func TestKeyMaxAgeMakesRotationDue(t *testing.T) {
	e := testenv.New(t)
	e.Config.Profiles["work"].KeyMaxAge = 90 * 24 * time.Hour
	ctx := context.Background()

	// A key added with `mfad add` has no known age: the daemon learns it
	// from IAM after the unlock.
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.IAMEndpoint = e.Emu.URL })
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Status("work")[0]; st.AccessKeyID != e.User.AccessKeyID || !st.KeyCreated.IsZero() || st.RotationDue {
		t.Fatalf("status before the unlock: %+v", st)
	}
	if _, err := d.Unlock(ctx, "work", e.Code()); err != nil {
		t.Fatal(err)
	}
	created := e.Emu.AccessKeys("alice")[0].Created
	testenv.WaitFor(t, "the key's creation time", func() bool { return d.Status("work")[0].KeyCreated.Equal(created) })
	if k := storedKey(t, e); !k.Created.Equal(created) {
		t.Fatalf("stored key created %v, want %v", k.Created, created)
	}
	if st := d.Status("work")[0]; st.RotationDue || st.KeyMaxAgeSeconds != int64(90*24*time.Hour/time.Second) {
		t.Fatalf("a new key is due for rotation: %+v", st)
	}
	d.Close()

	// A key older than key_max_age is due.
	k := storedKey(t, e)
	k.Created = testenv.Start.Add(-100 * 24 * time.Hour)
	if err := keystore.PutAccessKey(ctx, e.Store, "work", k); err != nil {
		t.Fatal(err)
	}
	d2, err := newDaemonWith(t, e, func(o *daemon.Options) { o.IAMEndpoint = e.Emu.URL })
	if err != nil {
		t.Fatal(err)
	}
	if st := d2.Status("work")[0]; !st.RotationDue {
		t.Fatalf("a 100-day-old key with key_max_age 90d: %+v", st)
	}
	if st := d2.Status("admin")[0]; !st.RotationDue || st.KeyProfile != "work" {
		t.Fatalf("the role profile's status: %+v", st)
	}
}

// TestRotateWithAClockAheadOfAWS: this machine's clock runs 45 minutes ahead
// of AWS's. IAM calls are signed at AWS's time as the daemon measured it
// from STS, as STS calls are: the key rotates without fixing the clock.
func TestRotateWithAClockAheadOfAWS(t *testing.T) {
	e := testenv.New(t)
	e.Emu.SetClockOffset(-45 * time.Minute)
	if err := e.Emu.RequireMFA(e.User.Name); err != nil {
		t.Fatal(err)
	}
	d, err := newDaemonWith(t, e, func(o *daemon.Options) { o.IAMEndpoint = e.Emu.URL })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The authenticator shows the code of AWS's time (a phone's clock).
	if _, err := d.Unlock(ctx, "admin", e.Emu.Code(e.User, e.Emu.Now())); err != nil {
		t.Fatal(err)
	}
	r, err := d.RotateKey(ctx, "admin")
	if err != nil {
		t.Fatalf("rotate with the clock 45 minutes ahead: %v", err)
	}
	if ids := keyIDs(e.Emu.AccessKeys("alice")); len(ids) != 1 || ids[0] != r.NewKeyID {
		t.Fatalf("keys in IAM after the rotation: %v, want only %s", ids, r.NewKeyID)
	}
	if k := storedKey(t, e); k.AccessKeyID != r.NewKeyID {
		t.Fatalf("stored key %s, want %s", k.AccessKeyID, r.NewKeyID)
	}
}
