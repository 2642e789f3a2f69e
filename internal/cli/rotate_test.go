package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/ipc"
	"github.com/c0950fac/mfad/keystore"
)

func TestKeyAgeFinding(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := &configs.Profile{Name: "work", KeyMaxAge: 90 * 24 * time.Hour}
	key := func(age time.Duration) keystore.AccessKey {
		k := keystore.AccessKey{AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}
		if age > 0 {
			k.Created = now.Add(-age)
		}
		return k
	}
	if f := keyAgeFinding(&configs.Profile{Name: "work"}, key(400*24*time.Hour), now); f != nil {
		t.Errorf("without key_max_age: %+v", f)
	}
	for age, want := range map[time.Duration]string{
		0:                   doctorInfo,
		10 * 24 * time.Hour: doctorOK,
		91 * 24 * time.Hour: doctorFix,
	} {
		f := keyAgeFinding(p, key(age), now)
		if f == nil || f.Status != want {
			t.Errorf("key %v old: %+v, want %s", age, f, want)
		}
		if want == doctorFix && (f.Fix != "mfad rotate work" || !strings.Contains(f.Message, "91d old, past key_max_age 90d")) {
			t.Errorf("due finding: %+v", f)
		}
	}
}

func TestStatusSaysRotationIsDue(t *testing.T) {
	now := time.Now()
	var b bytes.Buffer
	printStatus(&b, ipc.StatusReply{Profiles: []ipc.ProfileStatus{
		{Profile: "work", KeyProfile: "work", Unlocked: true, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", KeyCreated: now.Add(-100 * 24 * time.Hour),
			KeyMaxAgeSeconds: int64(90 * 24 * time.Hour / time.Second), RotationDue: true},
		{Profile: "work-admin", KeyProfile: "work", Unlocked: true, RotationDue: true},
	}}, now)
	want := "work: access key AKIAIOSFODNN7EXAMPLE is 100d old, past key_max_age 90d: rotation is due: run `mfad rotate work`"
	if got := b.String(); !strings.Contains(got, want) || strings.Count(got, "rotation is due") != 1 {
		t.Fatalf("status printed:\n%s\nwant once: %s", got, want)
	}
}
