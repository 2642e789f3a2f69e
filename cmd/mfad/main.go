// Command mfad serves MFA-backed AWS credentials to every SDK, the AWS CLI
// and scripts. See `mfad --help`.
package main

import (
	"os"

	"github.com/c0950fac/mfad/internal/cli"
)

func main() { os.Exit(cli.Main()) }
