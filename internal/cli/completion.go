package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// takesProfileArg reports whether the command at path (below the root)
// takes a profile name as its one argument.
func takesProfileArg(path string) bool {
	switch path {
	case "unlock", "lock", "status", "remove", "add", "totp set", "totp remove", "env", "credential-process", "export", "rotate", "login", "service install":
		return true
	}
	return false
}

// profileFlagNamesProfile reports whether the --profile flag of the command
// at path names a configured profile (the sandbox has profiles of its own).
func profileFlagNamesProfile(path string) bool { return path != "sandbox" }

// addProfileCompletions makes the shell complete profile names from the
// configuration: the PROFILE argument of the commands above and every
// --profile flag.
func addProfileCompletions(app *App, root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.Name()), " ")
		if takesProfileArg(path) && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return app.completeProfiles(toComplete)
			}
		}
		if c.LocalFlags().Lookup("profile") != nil && profileFlagNamesProfile(path) {
			if _, ok := c.GetFlagCompletionFunc("profile"); !ok {
				_ = c.RegisterFlagCompletionFunc("profile", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return app.completeProfiles(toComplete)
				})
			}
		}
		if path == "exec" && c.ValidArgsFunction == nil {
			// The first argument is the profile; the command after it
			// completes as the shell would (files).
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 || cmd.Flags().Changed("profile") {
					return nil, cobra.ShellCompDirectiveDefault
				}
				return app.completeProfiles(toComplete)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeProfiles returns the configured profile names that start with
// prefix. A configuration that does not load completes nothing.
func (a *App) completeProfiles(prefix string) ([]string, cobra.ShellCompDirective) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []string
	for _, n := range cfg.ProfileNames() {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
