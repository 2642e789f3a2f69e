//go:build !unix && !windows

package mfacode

import (
	"context"
	"os/exec"
)

// shellCommand runs command through /bin/sh; cancelling ctx kills the shell.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "/bin/sh", "-c", command)
}
