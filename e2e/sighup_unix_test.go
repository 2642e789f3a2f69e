//go:build !windows

package e2e

import (
	"os"
	"syscall"
)

func sighup() os.Signal { return syscall.SIGHUP }
