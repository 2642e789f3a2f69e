package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/c0950fac/mfad/ipc"
	"github.com/spf13/cobra"
)

func newTokensCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "List and revoke the endpoint tokens the daemon has handed out",
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List endpoint tokens (never their values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := ask(cmd.Context(), app, (*ipc.Client).Tokens, ipc.TokensRequest{})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			sort.Slice(r.Tokens, func(i, j int) bool { return r.Tokens[i].Created.Before(r.Tokens[j].Created) })
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tPROFILE\tCREATED\tENDS WITH\tLABEL")
			for _, t := range r.Tokens {
				ends := "-"
				switch {
				case t.Stale:
					ends = fmt.Sprintf("pid %d (gone: stale)", t.WatchPID)
				case t.WatchPID > 0:
					ends = fmt.Sprintf("pid %d", t.WatchPID)
				case t.Kind == "exec":
					ends = "its command"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, dash(t.Profile), fmtTime(t.Created), ends, t.Label)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var stale bool
	revoke := &cobra.Command{
		Use:   "revoke ID... | --stale",
		Short: "Revoke endpoint tokens at once: by id, or every stale one",
		Long: `Revoke the tokens named by id (from ` + "`mfad tokens list`" + `), or with --stale every token
whose process is gone (a shell that exited while the daemon could not watch it).`,
		Example: `  mfad tokens revoke 3f9a0c1d2b4e5f60 77aa01b2c3d4e5f6
  mfad tokens revoke --stale`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if stale == (len(args) > 0) {
				return errors.New("give token ids (see `mfad tokens list`) or --stale")
			}
			c, err := app.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			ids := args
			if stale {
				r, err := c.Tokens(ctx, ipc.TokensRequest{})
				if err != nil {
					return err
				}
				for _, t := range r.Tokens {
					if t.Stale {
						ids = append(ids, t.ID)
					}
				}
				if len(ids) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No stale tokens.")
					return nil
				}
			}
			var errs []error
			for _, id := range ids {
				r, err := c.Revoke(ctx, ipc.RevokeRequest{ID: id})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked token %s (%s).\n", r.Revoked.ID, r.Revoked.Kind)
			}
			return errors.Join(errs...)
		},
	}
	revoke.Flags().BoolVar(&stale, "stale", false, "revoke every token whose process is gone")
	cmd.AddCommand(list, revoke)
	return cmd
}
