//go:build windows

package cli

import "os"

// forwardedSignals are passed on to the child of `mfad exec`.
func forwardedSignals() []os.Signal {
	return []os.Signal{os.Interrupt}
}

// isForeground reports whether this process may read from terminal f;
// Windows has no background process groups.
func isForeground(*os.File) bool { return true }

// reloadSignals make the daemon read its configuration again: none on
// Windows, where the configuration files are watched.
func reloadSignals() []os.Signal { return nil }
