//go:build !linux

package peerproc

import (
	"fmt"
	"net/netip"
	"runtime"
)

// Finder finds the processes behind loopback TCP connections. On this
// system it finds none: every lookup reports ErrUnsupported.
type Finder struct{}

// NewFinder returns a Finder.
func NewFinder() *Finder { return &Finder{} }

// Conn reports ErrUnsupported.
func (f *Finder) Conn(client, server netip.AddrPort) (Process, error) {
	return Process{UID: -1}, fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported)
}

// Process reports ErrUnsupported.
func (f *Finder) Process(pid int) (Process, error) {
	return Process{PID: pid, UID: -1}, fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported)
}

// ConnUID reports ErrUnsupported.
func ConnUID(client, server netip.AddrPort) (int, error) {
	return -1, fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported)
}
