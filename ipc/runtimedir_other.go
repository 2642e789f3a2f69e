//go:build !unix

package ipc

import "io/fs"

// fileOwner reports that file ownership is not available as a uid on this
// platform.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

// securePrivateDir has nothing to check on platforms without Unix ownership
// and mode bits: the runtime directory lives in the user's profile and
// inherits its access control list.
func securePrivateDir(string, fs.FileInfo) error { return nil }
