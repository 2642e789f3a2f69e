//go:build windows

package mfacode

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// shellCommand runs command through cmd.exe (cmd /S /C "command", which
// hands the command to cmd.exe unchanged), in its own process group, so that
// cancelling ctx kills the shell and everything it started.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	shell := os.Getenv("ComSpec")
	if shell == "" {
		shell = "cmd.exe"
	}
	cmd := exec.CommandContext(ctx, shell)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CmdLine:       syscall.EscapeArg(shell) + ` /S /C "` + command + `"`,
		CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP,
		HideWindow:    true,
	}
	cmd.Cancel = func() error {
		// taskkill /T ends the whole tree; Kill ends the shell if that fails.
		_ = exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(cmd.Process.Pid)).Run()
		return cmd.Process.Kill()
	}
	return cmd
}
