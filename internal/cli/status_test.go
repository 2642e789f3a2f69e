package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/ipc"
)

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 45*time.Minute + 12*time.Second: "45m12s",
		time.Second: "1s", 12 * time.Hour: "12h", 20 * time.Minute: "20m", 0: "0s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestShortStatus(t *testing.T) {
	got := shortStatus([]ipc.ProfileStatus{
		{Profile: "a"}, {Profile: "b", Unlocked: true}, {Profile: "c", Unlocked: true, NeedCode: true}, {Profile: "d", Unlocked: true, WindowLapsed: true},
	})
	if want := "a:locked b:ok c:code! d:code!"; got != want {
		t.Fatalf("shortStatus = %q, want %q", got, want)
	}
}

func TestStatusWarnsOfClockSkewAndShortLifetimes(t *testing.T) {
	now := time.Now()
	var b bytes.Buffer
	printStatus(&b, ipc.StatusReply{ClockSkewSeconds: -45 * 60, Profiles: []ipc.ProfileStatus{
		{Profile: "admin", KeyProfile: "work", Unlocked: true, ShortLifetimeSeconds: 120},
		{Profile: "work", KeyProfile: "work", Unlocked: true},
	}}, now)
	got := b.String()
	for _, want := range []string{
		"warning: this machine's clock is 45m ahead of STS's",
		"admin: STS issues credentials lasting 2m, less than the profile's lead",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "work: STS issues") {
		t.Errorf("a short lifetime shown for work:\n%s", got)
	}
}
