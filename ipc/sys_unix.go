//go:build unix

package ipc

import (
	"errors"
	"os"
	"syscall"
)

// isConnRefused reports whether err means that nothing listens on the
// socket.
func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// isPermission reports whether err means the socket file may not be opened.
func isPermission(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// chmodSocket restricts the socket file at path to its owner.
func chmodSocket(path string) error {
	return os.Chmod(path, 0o600)
}
