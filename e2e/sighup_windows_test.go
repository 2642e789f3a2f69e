package e2e

import "os"

// sighup is nil on Windows, which has no SIGHUP: the tests that send it
// skip that step.
func sighup() os.Signal { return nil }
