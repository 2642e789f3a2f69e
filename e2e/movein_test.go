package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c0950fac/mfad/internal/stsemu"
)

// TestMovingIn is a new user's path with keys in ~/.aws/credentials and
// an aws-vault style ~/.aws/config (include_profile, mfa_process), in a
// scratch home: doctor flags what shadows mfad, import moves the keys,
// doctor --fix points the AWS CLI's role profile at mfad, and the AWS CLI
// and boto3 then get their credentials from the endpoint.
func TestMovingIn(t *testing.T) {
	w := newWorld(t)
	bob, err := w.emu.AddUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	w.secrets = append(w.secrets, bob.SecretAccessKey, bob.TOTPSecret)
	t.Cleanup(func() { w.run(nil, "remove", "bob", "--force") })
	roleARN := w.emu.AddRole("ext-admin", stsemu.RoleOptions{RequireMFA: true, ExternalID: "ext-7788", SourceIdentity: "alice"})

	// Only the real places: no AWS_CONFIG_FILE, no AWS_SHARED_CREDENTIALS_FILE.
	var env []string
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "AWS_CONFIG_FILE=") && !strings.HasPrefix(kv, "AWS_SHARED_CREDENTIALS_FILE=") {
			env = append(env, kv)
		}
	}
	w.env = env
	backend := keyringBackend()
	if err := os.WriteFile(w.cfgPath, []byte(fmt.Sprintf("sts_endpoint: %s\nkeyring:\n  backend: %s\n", w.emu.URL, backend)), 0o600); err != nil {
		t.Fatal(err)
	}
	awsDir := filepath.Join(w.home, ".aws")
	if err := os.MkdirAll(awsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	const personal = "[personal]\naws_access_key_id = AKIAPERSONALPERSONAL\naws_secret_access_key = pErSoNaL0123456789abcdefghijklmnopqrst+/\n"
	credentials := "# written by aws configure, then by hand\n" +
		"[work]\n" +
		"aws_access_key_id = " + w.user.AccessKeyID + "\n" +
		"aws_secret_access_key = " + w.user.SecretAccessKey + "\n" +
		"region = eu-west-1\n" +
		"\n" +
		personal +
		"\n" +
		"; bob's key\n" +
		"[bob]\n" +
		"aws_secret_access_key=" + bob.SecretAccessKey + "\n" +
		"aws_access_key_id=" + bob.AccessKeyID + "\n"
	credsPath := filepath.Join(awsDir, "credentials")
	writeFile(t, credsPath, credentials)
	codeFile := filepath.Join(w.home, "bob-code")
	awsConfig := fmt.Sprintf(`# my AWS config
[default]
region = eu-west-1
output = json

[profile work]
mfa_serial = %s

[profile admin-base]
source_profile = work
external_id = ext-7788
source_identity = alice

[profile admin]
include_profile = admin-base
role_arn = %s
region = eu-west-1

[profile bob]
mfa_serial = %s
mfa_process = cat %s
`, w.user.MFASerial, roleARN, bob.MFASerial, codeFile)
	writeFile(t, filepath.Join(awsDir, "config"), awsConfig)

	w.startDaemon()

	// doctor flags the keys that shadow the endpoint, and fails.
	out, _, err := w.run(nil, "doctor", "--json")
	var rep struct {
		OK       bool
		Findings []struct{ Check, Status, Profile, Fix string }
	}
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("doctor --json printed %q: %v", out, jerr)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || rep.OK {
		t.Fatalf("doctor: %v, ok %v", err, rep.OK)
	}
	flagged := map[string]string{}
	for _, f := range rep.Findings {
		if f.Status == "fix" {
			flagged[f.Check+" "+f.Profile] = f.Fix
		}
	}
	if flagged["shared-credentials work"] != "mfad import work" || flagged["shared-credentials bob"] != "mfad import bob" || flagged["role-profile admin"] == "" {
		t.Fatalf("doctor findings: %v", flagged)
	}

	// import moves exactly the two keys.
	out = w.must(nil, "import", "work", "bob")
	if !strings.Contains(out, "Moved the access key "+w.user.AccessKeyID+" of [work]") || !strings.Contains(out, "MFA device: "+bob.MFASerial) {
		t.Fatalf("import said %q", out)
	}
	want := "# written by aws configure, then by hand\n[work]\nregion = eu-west-1\n\n" + personal + "\n; bob's key\n[bob]\n"
	if got := readFile(t, credsPath); got != want {
		t.Fatalf("~/.aws/credentials after import:\n%q\nwant\n%q", got, want)
	}
	noSecretUnder(t, w.home, w.user.SecretAccessKey, bob.SecretAccessKey)
	var rows []struct {
		Profile string `json:"profile"`
		HasKey  bool   `json:"has_key"`
	}
	if err := json.Unmarshal([]byte(w.must(nil, "list", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, r := range rows {
		has[r.Profile] = r.HasKey
	}
	if !has["work"] || !has["bob"] || len(rows) != 3 {
		t.Fatalf("list: %+v", rows)
	}

	// --fix makes `aws --profile admin` ask mfad; then nothing needs fixing.
	out = w.must(nil, "doctor", "--fix")
	if !strings.Contains(out, "fixed: [profile admin]") || !strings.Contains(out, "Nothing needs fixing.") {
		t.Fatalf("doctor --fix said:\n%s", out)
	}
	w.must(nil, "doctor")

	// work is unlocked with a typed code; bob with his mfa_process.
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code)
	w.must([]byte(code+"\n"), "unlock", "work", "--code-stdin")
	writeFile(t, codeFile, w.emu.Code(bob, time.Now())+"\n")
	w.must(nil, "unlock", "bob")
	var st struct {
		Profiles []struct {
			Profile   string `json:"profile"`
			MFASource string `json:"mfa_source"`
			Unlocked  bool   `json:"unlocked"`
		} `json:"profiles"`
	}
	out = w.must(nil, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Profiles {
		if p.Profile == "bob" && (p.MFASource != "process" || !p.Unlocked) {
			t.Fatalf("status of bob: %+v", p)
		}
	}

	const aws = "/usr/bin/aws"
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run installs awscli", aws)
		}
		t.Skipf("%s not installed", aws)
	}
	// The AWS CLI through the endpoint: container-role.
	shell := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", fmt.Sprintf(`set -e; eval "$(%q env --profile admin)"; %s`, w.bin, script))
		cmd.Env = w.env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, b)
		}
		w.check(script, string(b))
		return string(b)
	}
	if out := shell(aws + " configure list"); !strings.Contains(out, "container-role") {
		t.Fatalf("aws configure list:\n%s", out)
	}
	if out := shell(aws + " sts get-caller-identity --output json --endpoint-url " + w.emu.URL); !strings.Contains(out, ":assumed-role/ext-admin/") {
		t.Fatalf("aws sts get-caller-identity:\n%s", out)
	}
	// And `aws --profile admin`, through the credential_process line --fix wrote.
	cmd := exec.Command(aws, "--profile", "admin", "sts", "get-caller-identity", "--output", "json", "--endpoint-url", w.emu.URL)
	cmd.Env = w.env
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), ":assumed-role/ext-admin/") {
		t.Fatalf("aws --profile admin: %v\n%s", err, b)
	}
	// boto3: container-role too.
	if exec.Command("/usr/bin/python3", "-c", "import boto3").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("boto3 is missing: .ci/run installs python3-boto3")
		}
		t.Skip("boto3 not installed")
	}
	pyDir, _ := filepath.Abs("clients/python")
	id := parseIdentity(t, lastLine(shell("/usr/bin/python3 "+filepath.Join(pyDir, "client.py"))))
	if id.Source != "python/container-role" || !strings.Contains(id.Arn, ":assumed-role/ext-admin/") {
		t.Fatalf("boto3: %+v", id)
	}
}

// TestAWSVaultMigrationMFADHalf is what `aws-vault exec --no-session work --
// mfad add work --env` hands mfad: aws-vault's variables with the long-term
// key, and no session token. Without --no-session it is a session, which is
// refused with the command to use.
func TestAWSVaultMigrationMFADHalf(t *testing.T) {
	w := newWorld(t)
	vault := []string{"AWS_VAULT=work", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=" + w.user.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + w.user.SecretAccessKey}
	_, errs, err := w.runEnv(append(vault, "AWS_SESSION_TOKEN=FwoGZXIvYXdzEsession"), nil, "add", "work", "--env")
	if err == nil || !strings.Contains(errs, "aws-vault exec --no-session PROFILE -- mfad add PROFILE --env") {
		t.Fatalf("add --env with a session token: %v %q", err, errs)
	}
	out, errs, err := w.runEnv(vault, nil, "add", "work", "--env")
	if err != nil || !strings.Contains(out, "Stored the access key "+w.user.AccessKeyID+" for profile work") {
		t.Fatalf("add --env: %v\n%s%s", err, out, errs)
	}
	w.startDaemon()
	code := w.emu.Code(w.user, time.Now())
	w.secrets = append(w.secrets, code)
	w.must([]byte(code+"\n"), "unlock", "work", "--code-stdin")
	noSecretUnder(t, w.home, w.user.SecretAccessKey)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noSecretUnder fails when a file under dir holds one of the secrets.
func noSecretUnder(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret in plain text", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDoctorReportsClockSkew runs STS three minutes ahead of this machine:
// once the daemon has called it, doctor reports the skew and fails.
func TestDoctorReportsClockSkew(t *testing.T) {
	const ahead = 3 * time.Minute
	w := newWorldEmu(t, keyringBackend(), stsemu.Options{Now: func() time.Time { return time.Now().Add(ahead) }})
	w.startDaemon()
	w.must([]byte(w.user.AccessKeyID+"\n"+w.user.SecretAccessKey+"\n"), "add", "work")
	code := w.emu.Code(w.user, time.Now().Add(ahead))
	w.secrets = append(w.secrets, code)
	w.must([]byte(code+"\n"), "unlock", "work", "--code-stdin")
	out, _, err := w.run(nil, "doctor")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "FIX   clock: at its last STS call the daemon found this machine's clock 3m behind STS's") {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
}
