package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/c0950fac/mfad/policy"
)

// newPolicyCmd returns `mfad policy`: evaluate and check IAM policies for
// MFA enforcement, and print a recommended policy.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Evaluate IAM policies for MFA enforcement and print a recommended policy",
		Long: `Evaluate your organisation's IAM policies offline the way AWS documents it, to see
what long-term access keys, console users without MFA and MFA sessions of a given age
may do, find the usual MFA pitfalls (Bool instead of BoolIfExists, locked-out MFA
self-service, MultiFactorAuthAge windows), and print a recommended enforcement policy.

Nothing is sent to AWS. See docs/policy.md.`,
	}
	cmd.AddCommand(newPolicyEvalCmd(), newPolicyCheckCmd(), newPolicyTemplateCmd())
	return cmd
}

// policyLoad parses the policy files named on the command line.
func policyLoad(files []string) ([]*policy.Document, error) {
	docs := make([]*policy.Document, 0, len(files))
	for _, f := range files {
		d, err := policy.ParseFile(f)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// policyParseKeys turns repeated NAME=VALUE flags into a request context; a
// name given several times gets several values.
func policyParseKeys(pairs []string) (map[string][]string, error) {
	ctx := map[string][]string{}
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--key %q: want NAME=VALUE, e.g. --key aws:MultiFactorAuthPresent=true", p)
		}
		ctx[name] = append(ctx[name], value)
	}
	return ctx, nil
}

// policyEvalOutput is `mfad policy eval --json`'s output.
type policyEvalOutput struct {
	Decision policy.Decision       `json:"decision"`
	Action   string                `json:"action"`
	Resource string                `json:"resource,omitempty"`
	Context  map[string][]string   `json:"context"`
	Matched  []policy.StatementRef `json:"matched"`
	Reasons  []string              `json:"reasons"`
}

func newPolicyEvalCmd() *cobra.Command {
	var (
		action, resource string
		keys             []string
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "eval FILE... --action ACTION [--resource ARN] [--key NAME=VALUE]... [--json]",
		Short: "Decide one request against policy files",
		Long: `Evaluate one request against the policy files together and print the decision:
allowed, explicit-deny, implicit-deny or unknown (a statement that could change the
decision uses an operator or value mfad cannot evaluate; --json gives the reason).

--key sets a request condition key; repeat it for several keys, and repeat a name for a
multi-valued key. Keys you do not set are missing from the request, which is how
requests signed with long-term access keys look to AWS: they carry no
aws:MultiFactorAuthPresent. Without --resource the resource is unspecified and falls
within any Resource element.

The exit status is 0 whatever the decision; it is non-zero only when a file cannot be
read or parsed, or a flag is wrong.`,
		Example: `  mfad policy eval deny-without-mfa.json --action ec2:StopInstances
  mfad policy eval deny-without-mfa.json --action ec2:StopInstances \
      --key aws:MultiFactorAuthPresent=true --key aws:MultiFactorAuthAge=300 --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx, err := policyParseKeys(keys)
			if err != nil {
				return err
			}
			if strings.TrimSpace(action) == "" {
				return errors.New("--action is required, e.g. --action ec2:StopInstances")
			}
			docs, err := policyLoad(files)
			if err != nil {
				return err
			}
			res := policy.Evaluate(docs, policy.Request{Action: action, Resource: resource, Context: ctx})
			out := cmd.OutOrStdout()
			if !asJSON {
				_, err := fmt.Fprintln(out, res.Decision)
				return err
			}
			o := policyEvalOutput{
				Decision: res.Decision, Action: action, Resource: resource, Context: ctx,
				Matched: res.Matched, Reasons: res.Unknown,
			}
			if o.Matched == nil {
				o.Matched = []policy.StatementRef{}
			}
			if o.Reasons == nil {
				o.Reasons = []string{}
			}
			return policyWriteJSON(out, o)
		},
	}
	cmd.Flags().StringVar(&action, "action", "", "the action, e.g. ec2:StopInstances (required)")
	cmd.Flags().StringVar(&resource, "resource", "", "the resource ARN (default: unspecified, any resource)")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "a request condition key as NAME=VALUE (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision, the deciding statements and the reasons as JSON")
	_ = cmd.MarkFlagRequired("action")
	return cmd
}

func newPolicyCheckCmd() *cobra.Command {
	var (
		actions []string
		asJSON  bool
		failOn  string
	)
	cmd := &cobra.Command{
		Use:   "check FILE... [--action ACTION]... [--json] [--fail-on error|warning|never]",
		Short: "Show what each kind of request may do under policy files, and MFA pitfalls",
		Long: `Evaluate actions in the request contexts that matter for MFA (long-term access keys,
console without MFA, session without MFA, a fresh MFA session, MFA sessions just inside
and just outside every aws:MultiFactorAuthAge window the policies set, and an AWS service
acting for the user) and print the decision matrix, then the findings with their fixes.

Without --action a handful of representative actions is checked, including
sts:GetSessionToken and the MFA self-service actions.

The exit status is 1 when a finding is at or above --fail-on: error (the default),
warning, or never; 2 when a file cannot be read or parsed. CI can gate on it.`,
		Example: `  mfad policy check org-mfa-policy.json
  mfad policy check group-policy.json user-policy.json --action ec2:StopInstances --action s3:GetObject
  mfad policy check org-mfa-policy.json --fail-on warning    # in CI`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			threshold, ok := policyFailRank(failOn)
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("--fail-on %q: use error, warning or never", failOn)}
			}
			docs, err := policyLoad(files)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			rep := policy.Check(docs, actions)
			if asJSON {
				err = policyWriteJSON(cmd.OutOrStdout(), rep)
			} else {
				err = policyWriteReport(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			n := 0
			for _, f := range rep.Findings {
				if r, ok := policyFailRank(string(f.Severity)); ok && r >= threshold {
					n++
				}
			}
			if n > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d finding(s) at or above %s", n, failOn)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&failOn, "fail-on", "error", "exit 1 when a finding is at or above this severity: error, warning or never")
	cmd.Flags().StringArrayVar(&actions, "action", nil, "an action to check (repeatable; default: a representative set)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// policyFailRank orders severities for --fail-on: a finding fails the
// check when its rank is at least the threshold's. ok is false for a name
// that is neither a severity nor "never".
func policyFailRank(name string) (rank int, ok bool) {
	switch name {
	case "never":
		return 3, true
	case string(policy.SeverityError):
		return 2, true
	case string(policy.SeverityWarning):
		return 1, true
	case string(policy.SeverityInfo):
		return 0, true
	}
	return 0, false
}

func newPolicyTemplateCmd() *cobra.Command {
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "template [--max-age 1h]",
		Short: "Print a recommended MFA enforcement policy",
		Long: `Print an IAM policy that denies everything but MFA self-service and
sts:GetSessionToken unless the request is MFA-authenticated (BoolIfExists, so long-term
access keys are covered too), while letting users set up their own MFA device.

With --max-age, MFA sessions older than that are denied too (NumericGreaterThanIfExists
aws:MultiFactorAuthAge); set the same mfa_max_age on the profile so mfad renews the MFA
session in time.`,
		Example: `  mfad policy template --max-age 1h > require-mfa.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxAge < 0 {
				return fmt.Errorf("--max-age %s is negative: give a duration such as 1h, or 0 for no limit", maxAge)
			}
			if maxAge > 0 && maxAge < time.Second {
				return fmt.Errorf("--max-age %s is under a second: aws:MultiFactorAuthAge counts whole seconds", maxAge)
			}
			_, err := cmd.OutOrStdout().Write(policy.Template(maxAge))
			return err
		},
	}
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "also deny MFA sessions older than this (e.g. 1h; 0 = no limit)")
	return cmd
}

// policyWriteJSON writes v as indented JSON.
func policyWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON output: %w", err)
	}
	return nil
}

// policyWriteReport writes a check report as a table (actions × contexts),
// the contexts' meanings and the findings.
func policyWriteReport(w io.Writer, rep policy.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"ACTION"}
	for _, c := range rep.Contexts {
		header = append(header, c.Name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rep.Matrix {
		cells := []string{row.Action}
		for _, c := range row.Results {
			cells = append(cells, c.Decision.String())
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}

	fmt.Fprintln(w, "\nContexts:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Contexts {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Description)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}

	if len(rep.Findings) == 0 {
		_, err := fmt.Fprintln(w, "\nNo findings.")
		return err
	}
	fmt.Fprintln(w, "\nFindings:")
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "  [%s] %s: %s\n", f.Severity, f.Code, f.Message)
		if _, err := fmt.Fprintf(w, "      fix: %s\n", f.Fix); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	return nil
}
