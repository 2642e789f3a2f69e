package daemon

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// releaseDelay is how long after the last change of credentials the daemon
// returns freed memory to the operating system: long enough for the role
// renewals an unlock starts to finish, so that one release follows a burst.
const releaseDelay = 2 * time.Second

// memoryRelease returns the memory a burst of work freed (STS calls,
// keystore reads, JSON) to the operating system once the burst is over, so
// that an idle daemon's resident size is what it holds rather than what it
// last needed. Without it the Go runtime keeps freed pages until its
// periodic GC and background scavenger return them, minutes later. It is a
// one-shot timer per burst: nothing runs while the daemon is idle.
type memoryRelease struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

// schedule (re)arms the release for releaseDelay from now.
func (m *memoryRelease) schedule() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.timer != nil {
		m.timer.Reset(releaseDelay)
		return
	}
	m.timer = time.AfterFunc(releaseDelay, releaseMemory)
}

// releaseMemory returns freed memory to the operating system. The first
// collection moves what sync.Pools hold (net/http's connection buffers,
// after a burst of connections) to their victim caches, the second frees
// it; debug.FreeOSMemory collects once more and returns the free pages.
// Then the binary's read-only pages that the burst touched and idle
// serving does not need are dropped from the resident set (dropCode).
func releaseMemory() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	dropCode()
}

// stop cancels a pending release.
func (m *memoryRelease) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
}
