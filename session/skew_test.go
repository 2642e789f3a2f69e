package session

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/clock"
)

// TestClockSkewMeasure: offsets under 2 s count as none; a minute or more
// is warned about once, again only when it moves by another minute, and
// its end is logged.
func TestClockSkewMeasure(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	var log bytes.Buffer
	b := NewBroker(BrokerOptions{Clock: clk, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	see := func(sts time.Time) time.Duration {
		now := clk.Now()
		b.observe(now, now, sts.UTC().Format(http.TimeFormat))
		off, _ := b.ClockSkew()
		return off
	}
	now := clk.Now()
	for _, c := range []struct {
		sts  time.Time
		want time.Duration
	}{
		{now.Add(1500 * time.Millisecond), 0},           // the Date header's precision
		{now.Add(-45 * time.Minute), -45 * time.Minute}, // this clock 45 min ahead
		{now.Add(-45*time.Minute - 10*time.Second), -45*time.Minute - 10*time.Second},
		{now.Add(-45*time.Minute - 40*time.Second), -45*time.Minute - 40*time.Second},
		{now.Add(-46*time.Minute - 10*time.Second), -46*time.Minute - 10*time.Second}, // a minute from the warning
		{now.Add(-47 * time.Minute), -47 * time.Minute},
		{now.Add(3 * time.Second), 3 * time.Second},
	} {
		if got := see(c.sts); (got - c.want).Abs() > time.Second {
			t.Errorf("STS at %v: offset %v, want %v", c.sts.Sub(now), got, c.want)
		}
	}
	out := log.String()
	if n := strings.Count(out, "clock differs from STS's"); n != 2 {
		t.Errorf("warned %d times, want 2 (at 45 min, then at 46 min 10 s):\n%s", n, out)
	}
	if !strings.Contains(out, "agrees with STS's again") {
		t.Errorf("no note that the clocks agree again:\n%s", out)
	}
	// A slow round trip measures nothing.
	before := clk.Now()
	b.observe(before, before.Add(time.Minute), before.Add(-time.Hour).Format(http.TimeFormat))
	if off, _ := b.ClockSkew(); off.Abs() > 4*time.Second {
		t.Errorf("a 1-minute round trip changed the offset to %v", off)
	}
}
