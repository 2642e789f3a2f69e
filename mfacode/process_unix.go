//go:build unix

package mfacode

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand runs command through /bin/sh in its own process group, so
// that cancelling ctx kills the shell and everything it started.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	return cmd
}
