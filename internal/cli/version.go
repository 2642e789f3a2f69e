package cli

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mfad's version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version
			bi, ok := debug.ReadBuildInfo()
			if v == "" && ok {
				v = bi.Main.Version
			}
			if v == "" {
				v = "(devel)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mfad %s\n", v)
			if ok {
				fmt.Fprintf(cmd.OutOrStdout(), "go: %s\n", bi.GoVersion)
				var keys []string
				settings := map[string]string{}
				for _, s := range bi.Settings {
					if strings.HasPrefix(s.Key, "vcs.") || s.Key == "GOOS" || s.Key == "GOARCH" {
						settings[s.Key] = s.Value
						keys = append(keys, s.Key)
					}
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", k, settings[k])
				}
			}
			return nil
		},
	}
}
