//go:build windows

package cli

import "os"

// forwardedSignals are passed on to the child of `mfad exec`.
var forwardedSignals = []os.Signal{os.Interrupt}
