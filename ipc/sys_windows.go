//go:build windows

package ipc

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// isConnRefused reports whether err means that nothing listens on the
// socket.
func isConnRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED) || errors.Is(err, syscall.ECONNREFUSED)
}

// isPermission reports whether err means the socket file may not be opened.
func isPermission(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.WSAEACCES)
}

// chmodSocket does nothing: on Windows the socket file inherits the access
// control list of the user's runtime directory.
func chmodSocket(string) error { return nil }
