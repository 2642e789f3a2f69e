package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c0950fac/mfad/configs"
	"github.com/c0950fac/mfad/internal/fileutil"
	"github.com/c0950fac/mfad/keystore"
)

// Keys shaped like AWS's, used only in these files.
const (
	workKeyID      = "AKIAWORKWORKWORKWORK"
	workSecret     = "wOrKsEcReT0123456789abcdefghijklmnopqrst"
	personalKeyID  = "AKIAPERSONALPERSONAL"
	personalSecret = "pErSoNaL0123456789abcdefghijklmnopqrst+/"
)

const movingCredentials = "# keys for the AWS CLI\n" +
	"[personal]\n" +
	"aws_access_key_id = " + personalKeyID + "\n" +
	"aws_secret_access_key = " + personalSecret + "\n" +
	"\n" +
	"; the work account\n" +
	"[work]\n" +
	"region = eu-west-1\n" +
	"aws_access_key_id=" + workKeyID + "\r\n" +
	"# rotated in March\n" +
	"aws_secret_access_key = " + workSecret + "\n" +
	"output = json\n" +
	"\n" +
	"[temp]\n" +
	"aws_access_key_id = ASIATEMPTEMPTEMPTEMP\n" +
	"aws_secret_access_key = tEmP0123456789abcdefghijklmnopqrstuvwxyz\n" +
	"aws_session_token = FwoGZXIvYXdzEtemp\n"

// movingWorld is a scratch home with ~/.aws/credentials, ~/.aws/config
// and an encrypted file keystore.
type movingWorld struct {
	t    *testing.T
	home string
	env  map[string]string
}

func newMovingWorld(t *testing.T, awsConfig string) *movingWorld {
	t.Helper()
	return newMovingWorldBackend(t, awsConfig, keystore.BackendFile)
}

// newMovingWorldBackend is newMovingWorld with the keystore backend named;
// the OS keyring is used under a service name of the test's own.
func newMovingWorldBackend(t *testing.T, awsConfig, backend string) *movingWorld {
	t.Helper()
	home := t.TempDir()
	w := &movingWorld{t: t, home: home, env: map[string]string{
		"HOME":                 home,
		"MFAD_KEYRING_BACKEND": backend,
		"MFAD_KEYRING_SERVICE": "mfad-test-" + filepath.Base(home),
		"MFAD_FILE_PASSPHRASE": "test passphrase",
		"MFAD_RUNTIME_DIR":     filepath.Join(t.TempDir(), "run"),
	}}
	if backend == keystore.BackendOS {
		t.Cleanup(func() {
			for _, n := range []string{"work", "personal"} {
				_ = keystore.RemoveProfile(context.Background(), w.store(), n)
			}
		})
	}
	w.write(".aws/credentials", movingCredentials)
	w.write(".aws/config", awsConfig)
	return w
}

func (w *movingWorld) path(rel string) string { return filepath.Join(w.home, filepath.FromSlash(rel)) }

func (w *movingWorld) write(rel, content string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(w.path(rel)), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.path(rel), []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *movingWorld) read(rel string) string {
	w.t.Helper()
	b, err := os.ReadFile(w.path(rel))
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func (w *movingWorld) app(stdout *bytes.Buffer) *App {
	return &App{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stdout, Getenv: func(k string) string { return w.env[k] }}
}

// run runs mfad ARGS with the import and doctor commands built from sys.
func (w *movingWorld) run(imp importSystem, doc doctorSystem, args ...string) (string, error) {
	var out bytes.Buffer
	app := w.app(&out)
	root := NewRoot(app)
	for _, c := range root.Commands() {
		if c.Name() == "import" || c.Name() == "doctor" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newImportCmdWith(app, imp), newDoctorCmdWith(app, doc))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func (w *movingWorld) store() keystore.Store {
	w.t.Helper()
	st, err := keystore.Open(context.Background(), keystore.Options{
		Backend: w.env["MFAD_KEYRING_BACKEND"], File: w.path(".local/share/mfad/keystore.enc"),
		Passphrase: func(context.Context) ([]byte, error) { return []byte("test passphrase"), nil },
		Service:    w.env["MFAD_KEYRING_SERVICE"],
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// movingBackends are the keystore backends to test with: the encrypted
// file, and the Secret Service when one is reachable (scripts/test).
func movingBackends() []string {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return []string{keystore.BackendFile, keystore.BackendOS}
	}
	return []string{keystore.BackendFile}
}

// noSecretInHome fails when any file under the home holds secret.
func (w *movingWorld) noSecretInHome(secret string) {
	w.t.Helper()
	filepath.WalkDir(w.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			w.t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			w.t.Errorf("%s holds the secret in plain text", p)
		}
		return nil
	})
}

var realImport = importSystem{replaceFile: configs.ReplaceFile}

func TestImportMovesExactlyTheKeys(t *testing.T) {
	for _, backend := range movingBackends() {
		t.Run(backend, func(t *testing.T) { testImportMovesExactlyTheKeys(t, backend) })
	}
}

func testImportMovesExactlyTheKeys(t *testing.T, backend string) {
	w := newMovingWorldBackend(t, "[profile work]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n", backend)
	doc := doctorSystem{service: serviceSystem{goos: "linux"}, replaceFile: configs.ReplaceFile}

	// Session credentials are refused, and nothing changes.
	out, err := w.run(realImport, doc, "import", "temp")
	if err == nil || !strings.Contains(err.Error(), "temporary credentials (aws_session_token)") {
		t.Fatalf("import temp: %v\n%s", err, out)
	}
	// A dry run changes nothing.
	out, err = w.run(realImport, doc, "import", "--dry-run", "work")
	if err != nil || !strings.Contains(out, "Would move the access key "+workKeyID+" of [work]") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if w.read(".aws/credentials") != movingCredentials {
		t.Fatal("the dry run changed the credentials file")
	}

	// A failure between the keystore write and the file rewrite leaves both
	// as they were.
	failing := importSystem{replaceFile: func(path string, data []byte) error {
		k, err := keystore.GetAccessKey(context.Background(), w.store(), "work")
		if err != nil || k.AccessKeyID != workKeyID {
			t.Errorf("when the file is rewritten, the keystore holds %v, %v; want the new key", k, err)
		}
		return errors.New("disk full")
	}}
	out, err = w.run(failing, doc, "import", "work")
	if err == nil || !strings.Contains(err.Error(), "as they were") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("import with a failing rewrite: %v\n%s", err, out)
	}
	if got := w.read(".aws/credentials"); got != movingCredentials {
		t.Fatalf("after the failure the file reads\n%q", got)
	}
	if _, err := keystore.GetAccessKey(context.Background(), w.store(), "work"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("after the failure the keystore holds work's key: %v", err)
	}

	// A rewrite whose directory flush failed has replaced the file: the
	// keys stay in the keystore.
	w2 := newMovingWorldBackend(t, "", backend)
	unsynced := importSystem{replaceFile: func(path string, data []byte) error {
		if err := configs.ReplaceFile(path, data); err != nil {
			return err
		}
		return fmt.Errorf("write %s: %w", path, fileutil.ErrDirNotSynced)
	}}
	if out, err := w2.run(unsynced, doc, "import", "work"); err != nil || !strings.Contains(out, "Warning:") {
		t.Fatalf("import with an unflushed directory: %v\n%s", err, out)
	}
	if k, err := keystore.GetAccessKey(context.Background(), w2.store(), "work"); err != nil || k.AccessKeyID != workKeyID {
		t.Fatalf("after an unflushed directory the keystore holds %v, %v", k, err)
	}

	// The real import.
	out, err = w.run(realImport, doc, "import", "work")
	if err != nil {
		t.Fatalf("import work: %v\n%s", err, out)
	}
	wantIn(t, "import work", out, "Moved the access key "+workKeyID+" of [work]", "into the "+backend+" keystore", "MFA device: arn:aws:iam::111122223333:mfa/alice")
	want := strings.Replace(strings.Replace(movingCredentials,
		"aws_access_key_id="+workKeyID+"\r\n", "", 1),
		"aws_secret_access_key = "+workSecret+"\n", "", 1)
	if got := w.read(".aws/credentials"); got != want {
		t.Fatalf("credentials file after import:\n%q\nwant\n%q", got, want)
	}
	if fi, err := os.Stat(w.path(".aws/credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	k, err := keystore.GetAccessKey(context.Background(), w.store(), "work")
	if err != nil || k.AccessKeyID != workKeyID || k.SecretAccessKey != workSecret {
		t.Fatalf("keystore: %v, %v", k, err)
	}
	w.noSecretInHome(workSecret)
	out, err = w.run(realImport, doc, "list", "--json")
	var rows []listEntry
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Profile != "work" || !rows[0].HasKey || rows[0].KeyID != workKeyID {
		t.Fatalf("list: %v\n%s", err, out)
	}

	// Again: the key is gone from the file.
	if _, err := w.run(realImport, doc, "import", "work"); err == nil || !strings.Contains(err.Error(), "no access key for [work]") {
		t.Fatalf("second import: %v", err)
	}
	// A profile without an MFA device is imported with a warning saying what
	// mfa_serial is for.
	out, err = w.run(realImport, doc, "import", "personal")
	if err != nil {
		t.Fatalf("import personal: %v\n%s", err, out)
	}
	wantIn(t, "import personal", out, "has no MFA device", "mfa_serial names the device whose code mfad sends to STS")
	w.noSecretInHome(personalSecret)
	if got := w.read(".aws/credentials"); !strings.HasPrefix(got, "# keys for the AWS CLI\n[personal]\n\n; the work account\n") {
		t.Fatalf("credentials file after the second import:\n%q", got)
	}
}

func TestImportRefusesAnotherKeyAndWantsNames(t *testing.T) {
	w := newMovingWorld(t, "")
	if err := keystore.PutAccessKey(context.Background(), w.store(), "work", keystore.AccessKey{AccessKeyID: "AKIAOTHEROTHEROTHERO", SecretAccessKey: personalSecret}); err != nil {
		t.Fatal(err)
	}
	doc := doctorSystem{service: serviceSystem{goos: "linux"}, replaceFile: configs.ReplaceFile}
	_, err := w.run(realImport, doc, "import", "work", "personal")
	if err == nil || !strings.Contains(err.Error(), "already has another access key (AKIAOTHEROTHEROTHERO)") {
		t.Fatalf("import over another key: %v", err)
	}
	if w.read(".aws/credentials") != movingCredentials {
		t.Fatal("a refused import changed the file")
	}
	if _, err := keystore.GetAccessKey(context.Background(), w.store(), "personal"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a refused import stored personal: %v", err)
	}
	_, err = w.run(realImport, doc, "import")
	if err == nil || !strings.Contains(err.Error(), "sections with keys: personal, work, temp") {
		t.Fatalf("import without names: %v", err)
	}
	out, err := w.run(realImport, doc, "import", "--all", "--dry-run")
	if err == nil || !strings.Contains(out, "Skipped [temp]") {
		t.Fatalf("import --all: %v\n%s", err, out)
	}
}

func TestImportPointsAtAnMFASerialLeftInTheCredentialsFile(t *testing.T) {
	w := newMovingWorld(t, "")
	w.write(".aws/credentials", "[carol]\naws_access_key_id = "+personalKeyID+"\naws_secret_access_key = "+personalSecret+"\nmfa_serial = arn:aws:iam::111122223333:mfa/carol\n")
	out, err := w.run(realImport, doctorSystem{}, "import", "carol")
	if err != nil {
		t.Fatalf("import carol: %v\n%s", err, out)
	}
	wantIn(t, "import carol", out, "names its MFA device in "+w.path(".aws/credentials"), "move the mfa_serial line to [profile carol]")
	if got := w.read(".aws/credentials"); got != "[carol]\nmfa_serial = arn:aws:iam::111122223333:mfa/carol\n" {
		t.Fatalf("credentials file: %q", got)
	}
}

func TestImportKeepsASymlinkedCredentialsFile(t *testing.T) {
	w := newMovingWorld(t, "")
	w.write("dotfiles/aws-credentials", movingCredentials)
	link := w.path(".aws/credentials")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(w.path("dotfiles/aws-credentials"), link); err != nil {
		t.Fatal(err)
	}
	if out, err := w.run(realImport, doctorSystem{}, "import", "personal"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("~/.aws/credentials is no longer a link: %v %v", fi, err)
	}
	if got := w.read("dotfiles/aws-credentials"); strings.Contains(got, personalSecret) || !strings.Contains(got, workSecret) {
		t.Fatalf("link target after import:\n%s", got)
	}
}
