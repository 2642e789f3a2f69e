package keystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// cheapKDF keeps tests fast; real files use DefaultKDFParams.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

func staticPassphrase(p string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return []byte(p), nil }
}

// countingPassphrase returns p and counts the calls and the requests.
type countingPassphrase struct {
	p     string
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []PassphraseRequest
}

func (c *countingPassphrase) get(ctx context.Context) ([]byte, error) {
	c.calls.Add(1)
	req, _ := PassphraseRequestFrom(ctx)
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	return []byte(c.p), nil
}

func openTestFile(t *testing.T, path string, opts ...FileOption) Store {
	t.Helper()
	s, err := OpenFile(testContext(t), path, staticPassphrase(testPassphrase), append([]FileOption{WithKDFParams(cheapKDF)}, opts...)...)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	return s
}

func TestFileConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) Store {
		return openTestFile(t, filepath.Join(t.TempDir(), "keystore.enc"))
	})
}

func TestFileConformanceReopened(t *testing.T) {
	// Every operation goes through a freshly opened store, so each result
	// comes from the file, not from memory.
	runConformance(t, func(t *testing.T) Store {
		return reopening{t: t, path: filepath.Join(t.TempDir(), "keystore.enc")}
	})
}

// reopening opens the file anew for every call.
type reopening struct {
	t    *testing.T
	path string
}

func (r reopening) open() Store                                    { return openTestFile(r.t, r.path) }
func (r reopening) Backend() string                                { return BackendFile }
func (r reopening) Profiles(ctx context.Context) ([]string, error) { return r.open().Profiles(ctx) }
func (r reopening) Get(ctx context.Context, p string, i Item) ([]byte, error) {
	return r.open().Get(ctx, p, i)
}
func (r reopening) Set(ctx context.Context, p string, i Item, v []byte) error {
	return r.open().Set(ctx, p, i, v)
}
func (r reopening) Delete(ctx context.Context, p string, i Item) error {
	return r.open().Delete(ctx, p, i)
}

func TestFileMissingIsEmptyAndCreatedOnFirstSet(t *testing.T) {
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "keystore.enc")
	pass := &countingPassphrase{p: testPassphrase}
	s, err := OpenFile(ctx, path, pass.get, WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	if pass.calls.Load() != 0 {
		t.Fatal("the passphrase was asked for although the file does not exist")
	}
	mustProfiles(t, s)
	if err := s.Delete(ctx, "p", SessionItem); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Delete on an empty store created %s (stat err %v)", dir, err)
	}
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "p", TOTPItem, []byte("w")); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "p", SessionItem, []byte("v"))
	if n := pass.calls.Load(); n != 1 {
		t.Fatalf("passphrase asked %d times; want once per open", n)
	}
	if !pass.reqs[0].Create || pass.reqs[0].File != path {
		t.Fatalf("passphrase request = %+v; want Create for %s", pass.reqs[0], path)
	}

	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, path + ".lock": 0o600, dir: 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("mode of %s = %#o; want %#o", p, got, want)
			}
		}
	}

	// The header carries the KDF parameters; reopening asks once, not to create.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:8]) != fileMagic || data[8] != fileVersion {
		t.Fatalf("file starts %q; want the magic and version 1", data[:9])
	}
	if got := (KDFParams{binary.BigEndian.Uint32(data[10:]), binary.BigEndian.Uint32(data[14:]), data[18]}); got != cheapKDF {
		t.Fatalf("header KDF params = %+v; want %+v", got, cheapKDF)
	}
	pass2 := &countingPassphrase{p: testPassphrase}
	s2, err := OpenFile(ctx, path, pass2.get)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s2, "p", TOTPItem, []byte("w"))
	if err := s2.Set(ctx, "q", SessionItem, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := pass2.calls.Load(); n != 1 || pass2.reqs[0].Create {
		t.Fatalf("reopen: passphrase asked %d times with %+v; want once, not Create", n, pass2.reqs)
	}
}

func TestFileDefaultParamsRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with 64 MiB is slow-ish")
	}
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s, err := OpenFile(ctx, path, staticPassphrase(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := PutAccessKey(ctx, s, "prod", testKey); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFile(ctx, path, staticPassphrase(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := GetAccessKey(ctx, s2, "prod"); err != nil || k != testKey {
		t.Fatalf("GetAccessKey = %v, %v", k, err)
	}
}

func TestFileEncrypted(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s := openTestFile(t, path)
	if err := PutAccessKey(ctx, s, "prod-profile", testKey); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{testKey.SecretAccessKey, testKey.AccessKeyID, "prod-profile", testPassphrase} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the file contains %q in clear", secret)
		}
	}
}

func TestFileWrongPassphrase(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s := openTestFile(t, path)
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err := OpenFile(ctx, path, staticPassphrase("not the passphrase"))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("OpenFile with wrong passphrase: err = %v; want ErrWrongPassphrase", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot decrypt "+path) || !strings.Contains(msg, "wrong passphrase") {
		t.Errorf("error %q should say it cannot decrypt the file, naming it", msg)
	}
	if strings.Contains(msg, "not the passphrase") {
		t.Errorf("error %q contains the passphrase", msg)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed open changed the file")
	}
}

func TestFileEmptyAndShortPassphrase(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s, err := OpenFile(ctx, path, staticPassphrase("short"), WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Set(ctx, "p", SessionItem, []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "at least 8") || strings.Contains(err.Error(), "short\"") {
		t.Fatalf("Set creating a file with a short passphrase: err = %v; want a length error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the file was created despite the rejected passphrase")
	}
	s, err = OpenFile(ctx, path, staticPassphrase(""), WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Set with an empty passphrase: err = %v; want an error saying it is empty", err)
	}
	fail := func(context.Context) ([]byte, error) { return nil, fmt.Errorf("no tty: %w", ErrNoPassphrase) }
	s, err = OpenFile(ctx, path, fail, WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Set without passphrase: err = %v; want ErrNoPassphrase naming the file", err)
	}
}

// writeGoodFile writes a store with one item and returns its bytes.
func writeGoodFile(t *testing.T, path string) []byte {
	t.Helper()
	s := openTestFile(t, path)
	if err := s.Set(testContext(t), "p", SessionItem, []byte("previous value")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFileDamaged(t *testing.T) {
	good := writeGoodFile(t, filepath.Join(t.TempDir(), "good.enc"))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	badParams := bytes.Clone(good)
	binary.BigEndian.PutUint32(badParams[14:], 0xffffffff) // 4 TiB of memory
	// Just past each bound: each would cost far more than mfad ever writes.
	bigMemory := bytes.Clone(good)
	binary.BigEndian.PutUint32(bigMemory[14:], MaxKDFMemoryKiB+1)
	manyPasses := bytes.Clone(good)
	binary.BigEndian.PutUint32(manyPasses[10:], MaxKDFTime+1)
	manyThreads := bytes.Clone(good)
	manyThreads[18] = MaxKDFThreads + 1
	newer := bytes.Clone(good)
	newer[8] = 9

	cases := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"empty", []byte{}, ErrCorruptFile, "empty"},
		{"truncated in magic", good[:5], ErrCorruptFile, "truncated"},
		{"truncated in header", good[:30], ErrCorruptFile, "truncated"},
		{"header only", good[:fileHeaderLen], ErrCorruptFile, "truncated"},
		{"truncated by one byte", good[:len(good)-1], ErrCorruptFile, "truncated"},
		{"trailing data", append(bytes.Clone(good), "junk"...), ErrCorruptFile, "unexpected data"},
		{"not a keystore", []byte("[default]\naws_access_key_id = x\n"), ErrCorruptFile, "not an mfad keystore file"},
		{"absurd kdf params", badParams, ErrCorruptFile, "out of range"},
		{"kdf memory over 256 MiB", bigMemory, ErrCorruptFile, "argon2id memory 262145 KiB out of range"},
		{"kdf passes over 12", manyPasses, ErrCorruptFile, "argon2id passes 13 out of range 1..12"},
		{"kdf threads over 16", manyThreads, ErrCorruptFile, "argon2id parallelism 17 out of range 1..16"},
		{"newer version", newer, errUnknownVersion, "use a newer mfad"},
		{"ciphertext changed", flip(len(good) - 20), ErrWrongPassphrase, "wrong passphrase, or the file was changed"},
		{"salt changed", flip(20), ErrWrongPassphrase, "wrong passphrase"},
		{"nonce changed", flip(40), ErrWrongPassphrase, "wrong passphrase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			path := filepath.Join(t.TempDir(), "keystore.enc")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFile(ctx, path, staticPassphrase(testPassphrase))
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenFile: err = %v; want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tc.message) {
				t.Errorf("error %q should name the file and say %q", msg, tc.message)
			}
			if errors.Is(err, ErrCorruptFile) != (tc.want == ErrCorruptFile) {
				t.Errorf("errors.Is(err, ErrCorruptFile) = %v for %v", errors.Is(err, ErrCorruptFile), tc.want)
			}
			if !errors.Is(err, errUnknownVersion) && !strings.Contains(msg, "restore it from a backup") {
				t.Errorf("error %q should suggest restoring the file", msg)
			}
		})
	}
}

func TestFileNeverOverwritesWhatItCannotDecrypt(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	s := openTestFile(t, path)
	if err := s.Set(ctx, "p", SessionItem, []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Another party replaces the file: once with garbage, once with a file
	// under another passphrase.
	other := filepath.Join(t.TempDir(), "other.enc")
	o, err := OpenFile(ctx, other, staticPassphrase("another passphrase"), WithKDFParams(cheapKDF))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Set(ctx, "x", SessionItem, []byte("y")); err != nil {
		t.Fatal(err)
	}
	otherData, _ := os.ReadFile(other)
	for name, data := range map[string][]byte{"garbage": []byte("garbage that is not a keystore"), "other passphrase": otherData} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "p", TOTPItem, []byte("w")); err == nil {
			t.Fatalf("%s: Set over a file it cannot decrypt succeeded", name)
		}
		if err := s.Delete(ctx, "p", SessionItem); err == nil {
			t.Fatalf("%s: Delete over a file it cannot decrypt succeeded", name)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: the file was overwritten", name)
		}
	}
}

func TestFileWriteFailingHalfWayKeepsPreviousStore(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore.enc")
	before := writeGoodFile(t, path)

	var tmpSeen string
	hook := func(tmp string) error {
		tmpSeen = tmp
		if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
			t.Errorf("temporary file %s not written (err %v)", tmp, err)
		}
		return errors.New("simulated crash after writing the temporary file")
	}
	s := openTestFile(t, path, withAfterTempWrite(hook))
	err := s.Set(ctx, "p", SessionItem, []byte("new value"))
	if err == nil || !strings.Contains(err.Error(), "previous content is unchanged") {
		t.Fatalf("Set with failing write: err = %v; want a write error", err)
	}
	if filepath.Dir(tmpSeen) != dir {
		t.Errorf("temporary file %s is not in the store's directory", tmpSeen)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the store file changed although the write failed")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	mustGet(t, openTestFile(t, path), "p", SessionItem, []byte("previous value"))
	mustGet(t, s, "p", SessionItem, []byte("previous value"))
}

func TestFileRewritesLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	writeGoodFile(t, path)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestFile(t, path)
	if err := s.Set(ctx, "p", TOTPItem, []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rewrite = %#o; want 0600", fi.Mode().Perm())
	}
}

func TestFileConcurrentSets(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "keystore.enc")
	// Two stores on one file stand for two processes: only the flock and the
	// re-read under it keep their writes from overwriting each other.
	stores := []Store{openTestFile(t, path), openTestFile(t, path), openTestFile(t, path)}
	const perStore = 12
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore)
	for si, s := range stores {
		for i := range perStore {
			wg.Go(func() {
				p := fmt.Sprintf("p%d-%02d", si, i)
				errs <- s.Set(ctx, p, SessionItem, []byte(p))
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	names, err := openTestFile(t, path).Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(stores)*perStore {
		t.Fatalf("%d profiles after %d concurrent Sets; some writes were lost", len(names), len(stores)*perStore)
	}
	for _, s := range stores {
		for _, p := range names {
			mustGet(t, s, p, SessionItem, []byte(p))
		}
	}
}

func TestFileDirectoryPath(t *testing.T) {
	_, err := OpenFile(testContext(t), t.TempDir(), staticPassphrase(testPassphrase))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("OpenFile on a directory: err = %v", err)
	}
}

func TestFileOptionsValidated(t *testing.T) {
	_, err := OpenFile(testContext(t), filepath.Join(t.TempDir(), "k"), staticPassphrase(testPassphrase),
		WithKDFParams(KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}))
	if err == nil {
		t.Fatal("OpenFile accepted zero argon2id passes")
	}
	if _, err := OpenFile(testContext(t), "x", nil); err == nil {
		t.Fatal("OpenFile accepted a nil passphrase function")
	}
}

func TestDefaultKDFParams(t *testing.T) {
	p := DefaultKDFParams()
	if p.Time != 3 || p.MemoryKiB != 64<<10 || p.Threads < 1 || p.Threads > 4 {
		t.Fatalf("DefaultKDFParams() = %+v", p)
	}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFileConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "keystore.enc")
	var cmds []*exec.Cmd
	for i := range 4 {
		cmd := exec.CommandContext(testContext(t), os.Args[0])
		cmd.Env = append(os.Environ(), helperFileEnv+"="+path, fmt.Sprintf("%s=%d", helperIDEnv, i))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("helper %d output:\n%s", i, out.String())
			}
		})
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	names, err := openTestFile(t, path).Profiles(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 40 {
		t.Fatalf("%d profiles after 4 processes wrote 10 each; some writes were lost: %v", len(names), names)
	}
}
