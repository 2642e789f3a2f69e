//go:build windows

package cli

import "os"

// forwardedSignals are passed on to the child of `mfad exec`.
func forwardedSignals() []os.Signal {
	return []os.Signal{os.Interrupt}
}
