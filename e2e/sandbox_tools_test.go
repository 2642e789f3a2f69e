package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxRotateExportLogin runs export, rotate and login in the shell
// `mfad sandbox` sets up, with the real binary and the Debian AWS CLI
// (through the sandbox's aws wrapper, which gives the CLI 2.9 the
// emulator's STS and IAM endpoints).
func TestSandboxRotateExportLogin(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("/usr/bin/aws is missing: .ci/run installs awscli")
		}
		t.Skip("/usr/bin/aws not installed (apt-get install awscli)")
	}
	bin := mfadBinary(t)
	dir := t.TempDir()
	script := `set -eu
m=` + shellQuote(bin) + `
d=` + shellQuote(dir) + `
"$m" list > "$d/list-before"
aws iam list-access-keys --output text > "$d/keys-before"
"$m" export sandbox --format env > "$d/exported" 2> "$d/export-warning"
"$m" rotate sandbox > "$d/rotated"
"$m" list > "$d/list-after"
aws iam list-access-keys --output text > "$d/keys-after"
aws sts get-caller-identity --output text > "$d/identity-after"
env -i HOME="$d" PATH=/usr/bin:/bin AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  $(cat "$d/exported") /usr/bin/aws sts get-caller-identity --endpoint-url "$AWS_ENDPOINT_URL_STS" --output text > "$d/identity-exported"
"$m" login sandbox-admin --stdout > "$d/url"
`
	cmd := exec.Command(bin, "sandbox", "--", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "PATH=/usr/bin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mfad sandbox -- sh: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before, after := fields(read("keys-before")), fields(read("keys-after"))
	if len(before) != 1 || len(after) != 1 || before[0] == after[0] {
		t.Fatalf("access keys before %v, after %v", before, after)
	}
	if !strings.Contains(read("list-before"), before[0]) || !strings.Contains(read("list-after"), after[0]) || strings.Contains(read("list-after"), before[0]) {
		t.Fatalf("list before:\n%s\nafter:\n%s", read("list-before"), read("list-after"))
	}
	if r := read("rotated"); !strings.Contains(r, after[0]+" replaces "+before[0]) {
		t.Fatalf("rotate printed %q", r)
	}
	for _, f := range []string{"identity-after", "identity-exported"} {
		if !strings.Contains(read(f), ":user/sandbox-user") {
			t.Fatalf("%s: %q", f, read(f))
		}
	}
	if w := read("export-warning"); !strings.Contains(w, "nothing refreshes") {
		t.Fatalf("export warned %q", w)
	}
	if u := read("url"); !strings.Contains(u, "/federation?Action=login&") || !strings.Contains(u, "SigninToken=") {
		t.Fatalf("login printed %q", u)
	}
}

// fields returns the access key ids (AKIA…) in the AWS CLI's text output.
func fields(s string) []string {
	var ids []string
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "AKIA") {
			ids = append(ids, f)
		}
	}
	return ids
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
