package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/fileutil"
	"github.com/c0950fac/mfad/keystore"
)

// importSystem is what `mfad import` needs to change files. Tests replace
// it to make a step fail.
type importSystem struct {
	// replaceFile writes the credentials file's new content atomically.
	replaceFile func(path string, data []byte) error
}

func newImportCmd(app *App) *cobra.Command {
	return newImportCmdWith(app, importSystem{replaceFile: configs.ReplaceFile})
}

func newImportCmdWith(app *App, sys importSystem) *cobra.Command {
	var all, dryRun bool
	var profile string
	cmd := &cobra.Command{
		Use:   "import [PROFILE...] [--profile PROFILE] [--all] [--dry-run]",
		Short: "Move long-term keys from ~/.aws/credentials into the keystore",
		Long: `Move long-term access keys from the AWS shared credentials file
($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) into mfad's keystore, then remove
exactly those keys (aws_access_key_id and aws_secret_access_key) from the file. Every
other line of the file — other sections, other keys such as region, comments, blank
lines — stays as it was, byte for byte; the section header stays too.

SDKs and the AWS CLI read that file before they ask mfad's endpoint, so keys left there
shadow mfad. The move is all or nothing: when a step fails, the keystore and the file are
left as they were. No copy of a secret is written anywhere else. The file is rewritten
atomically, readable by you only (0600); when it is a symbolic link, its target is.

A profile takes its MFA device (mfa_serial) from ~/.aws/config or mfad's configuration, as
every profile does; a profile without one is imported with a warning. Temporary
credentials (a section with aws_session_token) are refused: they expire, and mfad needs the
IAM user's long-term key to make its own MFA sessions.

With no PROFILE, --profile or --all, $MFAD_PROFILE names the profile.`,
		Example: `  mfad import work            # move [work]'s key
  mfad import --all --dry-run # show what would move
  mfad import --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if profile != "" && !slices.Contains(args, profile) {
				args = append(args, profile)
			}
			if all && len(args) > 0 {
				return errors.New("name profiles or give --all, not both")
			}
			if !all && len(args) == 0 {
				if p := app.getenv("MFAD_PROFILE"); p != "" {
					args = []string{p}
				}
			}
			return runImport(cmd.Context(), app, sys, cmd.OutOrStdout(), args, all, dryRun)
		},
	}
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		// The sections of the credentials file that hold keys.
		f, err := configs.ReadIniFile(configs.SharedCredentialsPath(app.getenv, homeDir(app)))
		if err != nil || f == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, s := range f.Sections {
			if s.HasStaticKeys() && strings.HasPrefix(s.Header, toComplete) && !slices.Contains(args, s.Header) {
				names = append(names, s.Header)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	addProfileFlag(cmd, &profile, "$MFAD_PROFILE when no PROFILE is named")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return cmd.ValidArgsFunction(c, args, toComplete)
	})
	cmd.Flags().BoolVar(&all, "all", false, "import every section of the file that holds a long-term key")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be moved, change nothing")
	return cmd
}

// importItem is one profile to move.
type importItem struct {
	name string
	key  keystore.AccessKey
	// inStore is true when the keystore already holds this very key.
	inStore bool
}

func runImport(ctx context.Context, app *App, sys importSystem, out io.Writer, names []string, all, dryRun bool) error {
	home := homeDir(app)
	path := configs.SharedCredentialsPath(app.getenv, home)
	if path == "" {
		return errors.New("no home directory is known and AWS_SHARED_CREDENTIALS_FILE is not set: name the credentials file with AWS_SHARED_CREDENTIALS_FILE")
	}
	f, err := configs.ReadIniFile(path)
	if err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("there is no shared credentials file at %s: nothing to import (use `mfad add PROFILE` to type a key in)", path)
	}
	withKeys := func() []string {
		var l []string
		for _, s := range f.Sections {
			if s.HasStaticKeys() {
				l = append(l, s.Header)
			}
		}
		return l
	}
	if len(names) == 0 && !all {
		hint := "it holds no access keys"
		if l := withKeys(); len(l) > 0 {
			hint = "sections with keys: " + strings.Join(l, ", ")
		}
		return fmt.Errorf("name the profiles to import, or give --all (%s: %s)", path, hint)
	}
	if all {
		for _, s := range f.Sections {
			if !s.HasStaticKeys() {
				continue
			}
			if s.HasSessionToken() {
				fmt.Fprintf(out, "Skipped [%s]: it holds temporary credentials (aws_session_token), not a long-term key.\n", s.Header)
				continue
			}
			names = append(names, s.Header)
		}
		if len(names) == 0 {
			return fmt.Errorf("%s holds no long-term access keys: nothing to import", path)
		}
	}

	// Check everything before changing anything.
	var items []importItem
	var errs []error
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		it, err := checkImport(f, name, withKeys)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, it)
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was imported: %w", errors.Join(errs...))
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })

	cfg, err := app.loadConfig()
	if err != nil {
		return fmt.Errorf("nothing was imported: %w", err)
	}
	st, err := app.openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("nothing was imported: %w", err)
	}
	for i := range items {
		it := &items[i]
		prev, err := keystore.GetAccessKey(ctx, st, it.name)
		switch {
		case errors.Is(err, keystore.ErrNotFound):
		case err != nil:
			errs = append(errs, err)
		case prev == it.key:
			it.inStore = true
		default:
			errs = append(errs, fmt.Errorf("profile %s already has another access key (%s) in the %s keystore; remove it first with `mfad remove %s` if the key in %s is the one to keep",
				it.name, prev.AccessKeyID, st.Backend(), it.name, path))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was imported: %w", errors.Join(errs...))
	}

	remove := map[string][]string{}
	for _, it := range items {
		remove[it.name] = []string{configs.CredAccessKeyID, configs.CredSecretAccessKey}
	}
	newData := f.Without(remove)
	if err := checkRewrite(f, newData, remove); err != nil {
		return fmt.Errorf("nothing was imported: %w", err)
	}

	if dryRun {
		for _, it := range items {
			fmt.Fprintf(out, "Would move the access key %s of [%s] from %s into the %s keystore.\n", it.key.AccessKeyID, it.name, path, st.Backend())
		}
		fmt.Fprintln(out, "Dry run: nothing was changed.")
		return nil
	}

	// The keystore first, then the file; undo the keystore when the file
	// cannot be written.
	var written []string
	undo := func(cause error) error {
		var uerrs []error
		for _, n := range written {
			if err := st.Delete(context.WithoutCancel(ctx), n, keystore.AccessKeyItem); err != nil {
				uerrs = append(uerrs, fmt.Errorf("could not take the key of %s out of the keystore again (remove it with `mfad remove %s`): %w", n, n, err))
			}
		}
		if len(uerrs) > 0 {
			return errors.Join(append([]error{fmt.Errorf("import failed: %w", cause)}, uerrs...)...)
		}
		return fmt.Errorf("nothing was imported, the keystore and %s are as they were: %w", path, cause)
	}
	for _, it := range items {
		if it.inStore {
			continue
		}
		if err := keystore.PutAccessKey(ctx, st, it.name, it.key); err != nil {
			return undo(err)
		}
		written = append(written, it.name)
	}
	// Someone may have edited the file meanwhile: never overwrite that.
	if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, f.Data) {
		if err == nil {
			err = fmt.Errorf("%s changed while mfad was importing; run the import again", path)
		}
		return undo(err)
	}
	if err := sys.replaceFile(path, newData); err != nil {
		if !errors.Is(err, fileutil.ErrDirNotSynced) {
			return undo(err)
		}
		// The file is replaced; only its directory's flush failed. The keys
		// are in the keystore: undoing now would lose them.
		fmt.Fprintf(out, "Warning: %v\n", err)
	}

	for _, it := range items {
		fmt.Fprintf(out, "Moved the access key %s of [%s] from %s into the %s keystore.\n", it.key.AccessKeyID, it.name, path, st.Backend())
		p := cfg.Profiles[it.name]
		switch {
		case p != nil && p.MFASerial != "":
			fmt.Fprintf(out, "  MFA device: %s\n", p.MFASerial)
		case f.Section(it.name) != nil && f.Section(it.name).Keys["mfa_serial"] != nil:
			fmt.Fprintf(out, "  Warning: profile %s names its MFA device in %s, where mfad does not read it (it reads ~/.aws/config and its own file): move the mfa_serial line to [profile %s] in %s.\n",
				it.name, path, it.name, awsConfigPathFor(app, cfg))
		default:
			fmt.Fprintf(out, "  Warning: profile %s has no MFA device. mfa_serial names the device whose code mfad sends to STS to open an MFA session; without it mfad cannot serve %s. Add `mfa_serial = arn:aws:iam::ACCOUNT_ID:mfa/NAME` to [profile %s] in %s (or profiles.%s.mfa_serial in mfad's configuration).\n",
				it.name, it.name, it.name, awsConfigPathFor(app, cfg), it.name)
		}
	}
	fmt.Fprintln(out, "Next: `mfad unlock PROFILE` with the daemon running, and `mfad doctor` to check the rest of the set-up.")
	return nil
}

// checkImport checks that section name holds a long-term key pair and
// nothing mfad cannot take.
func checkImport(f *configs.IniFile, name string, withKeys func() []string) (importItem, error) {
	s := f.Section(name)
	if s == nil || !s.HasStaticKeys() {
		where := "it holds no access keys"
		if l := withKeys(); len(l) > 0 {
			where = "sections with keys: " + strings.Join(l, ", ")
		}
		return importItem{}, fmt.Errorf("%s has no access key for [%s] (%s)", f.Path, name, where)
	}
	if err := keystore.ValidateProfileName(name); err != nil {
		return importItem{}, fmt.Errorf("[%s] in %s: %w; rename the section first", name, f.Path, err)
	}
	if s.HasSessionToken() {
		return importItem{}, fmt.Errorf("[%s] in %s holds temporary credentials (aws_session_token): mfad needs the IAM user's long-term key (AKIA...), from which it makes its own MFA sessions; put the long-term key there, or use `mfad add %s`", name, f.Path, name)
	}
	id, _ := s.Get(configs.CredAccessKeyID)
	secret, _ := s.Get(configs.CredSecretAccessKey)
	k := keystore.AccessKey{AccessKeyID: id, SecretAccessKey: secret}
	if err := k.Validate(); err != nil {
		return importItem{}, fmt.Errorf("[%s] in %s (line %d): %w", name, f.Path, s.Line, err)
	}
	return importItem{name: name, key: k}, nil
}

// checkRewrite parses the new content and checks that it differs from the
// old exactly by the removed keys.
func checkRewrite(old *configs.IniFile, data []byte, removed map[string][]string) error {
	nf, err := configs.ParseIniFile(old.Path, data)
	if err == nil && len(nf.Sections) != len(old.Sections) {
		err = errors.New("the sections differ")
	}
	for i := 0; err == nil && i < len(old.Sections); i++ {
		o, n := old.Sections[i], nf.Sections[i]
		want := map[string]string{}
		for k, v := range o.Keys {
			want[k] = v.Value
		}
		for _, k := range removed[o.Header] {
			delete(want, k)
		}
		if o.Header != n.Header || len(n.Keys) != len(want) {
			err = fmt.Errorf("section [%s] would change beyond its keys", o.Header)
			break
		}
		for k, v := range n.Keys {
			if want[k] != v.Value {
				err = fmt.Errorf("section [%s] would change beyond its keys", o.Header)
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mfad cannot remove the keys from %s without changing more of it (%v); move them by hand with `mfad add PROFILE`", old.Path, err)
	}
	return nil
}

// awsConfigPathFor names the AWS config file for messages.
func awsConfigPathFor(app *App, cfg *configs.Config) string {
	if cfg.AWSConfigFile != "" {
		return cfg.AWSConfigFile
	}
	if p := configs.DefaultAWSConfigPath(app.getenv, homeDir(app)); p != "" {
		return p
	}
	return "~/.aws/config"
}
