//go:build !linux

package daemon

// dropCode does nothing on this system.
func dropCode() {}
