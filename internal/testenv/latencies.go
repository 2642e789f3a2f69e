package testenv

import (
	"slices"
	"sync"
	"time"
)

// Latencies records the durations of a client's requests, from any number
// of goroutines.
type Latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

// Add records one request's duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

// Summary returns how many were recorded, their median, 99th percentile
// and maximum (all zero when none was).
func (l *Latencies) Summary() (n int, p50, p99, slowest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.all)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0, 0
	}
	return len(s), s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}
