package session

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// Clock skew: STS answers with its time in the Date header (one-second
// precision). The broker compares it with its own clock around each call,
// signs later requests at STS's time, and stamps sessions with the offset
// so that their expiry is read on this machine's clock (Session.Expires).
const (
	// skewIgnore is the offset below which the clocks are taken to agree:
	// the Date header's precision and the round trip make smaller offsets
	// noise.
	skewIgnore = 2 * time.Second
	// SkewWarn is the offset past which the daemon warns that this
	// machine's clock is wrong.
	SkewWarn = time.Minute
	// skewMaxRoundTrip discards measurements from slower round trips.
	skewMaxRoundTrip = 10 * time.Second
)

// skewMeter holds the last measured offset of STS's clock from the local
// one.
type skewMeter struct {
	mu     sync.Mutex
	offset time.Duration // STS − local, 0 when within skewIgnore
	at     time.Time     // local time of the last measurement
	warned bool
	// warnedOff is the offset last warned about.
	warnedOff time.Duration
}

// ClockSkew returns how far STS's clock was ahead of this machine's at the
// last STS call (negative: behind), zero when they agree within a couple
// of seconds, and when that was measured (zero before any call).
func (b *Broker) ClockSkew() (offset time.Duration, at time.Time) {
	b.skew.mu.Lock()
	defer b.skew.mu.Unlock()
	return b.skew.offset, b.skew.at
}

// ClockOffset is STS's clock against the broker's, as last measured: the
// offset its requests are signed with, and other AWS calls should be too.
func (b *Broker) ClockOffset() time.Duration {
	off, _ := b.ClockSkew()
	return off
}

// observe records STS's time from a response's Date header, received
// between before and after on the broker's clock.
func (b *Broker) observe(before, after time.Time, date string) {
	if date == "" || after.Sub(before) > skewMaxRoundTrip {
		return
	}
	server, err := http.ParseTime(date)
	if err != nil {
		return
	}
	// The Date header is truncated to the second: STS's time was within
	// the second after it, and ours within [before, after].
	off := server.Add(500 * time.Millisecond).Sub(before.Add(after.Sub(before) / 2))
	if off > -skewIgnore && off < skewIgnore {
		off = 0
	}
	off = off.Round(time.Second)
	m := &b.skew
	m.mu.Lock()
	far := off <= -SkewWarn || off >= SkewWarn
	warn := far && (!m.warned || (off-m.warnedOff).Abs() >= SkewWarn)
	agrees := !far && m.warned
	m.offset, m.at, m.warned = off, after, far
	if warn {
		m.warnedOff = off
	}
	m.mu.Unlock()
	switch {
	case warn:
		b.log.Warn("this machine's clock differs from STS's: mfad reads expiries and signs requests on STS's time; set the clock right (NTP), since SDKs sign with it too",
			"sts_minus_local", off, "local_is", aheadBehind(off))
	case agrees:
		b.log.Info("this machine's clock agrees with STS's again", "sts_minus_local", off)
	}
}

// aheadBehind says how the local clock stands against STS's offset.
func aheadBehind(off time.Duration) string {
	if off < 0 {
		return "ahead"
	}
	return "behind"
}

// timedClient sends requests and measures STS's clock from the answers.
type timedClient struct {
	b     *Broker
	inner *http.Client
}

// Do sends r and observes the answer's Date header.
func (c timedClient) Do(r *http.Request) (*http.Response, error) {
	before := c.b.clock.Now()
	resp, err := c.inner.Do(r)
	if err == nil {
		c.b.observe(before, c.b.clock.Now(), resp.Header.Get("Date"))
	}
	return resp, err
}

// skewRefused reports whether err is STS refusing a request for its
// signature time, after which a request signed at the newly measured time
// may succeed. Such a request was not authenticated, so an MFA code it
// carried was not used.
func skewRefused(err error, signedWith, now time.Duration) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || (now-signedWith).Abs() < skewIgnore {
		return false
	}
	switch ae.ErrorCode() {
	case "SignatureDoesNotMatch", "RequestExpired", "RequestTimeTooSkewed", "InvalidSignatureException":
		return true
	}
	return false
}
