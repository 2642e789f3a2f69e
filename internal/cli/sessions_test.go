package cli

import (
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
