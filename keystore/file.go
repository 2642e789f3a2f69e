package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/c0950fac/mfad/internal/fileutil"
)

// The file backend keeps every item in one encrypted file. Its layout, all
// integers big-endian:
//
//	offset  size  field
//	0       8     magic "MFADKEYS"
//	8       1     format version (1)
//	9       1     key derivation function (1 = argon2id)
//	10      4     argon2id passes
//	14      4     argon2id memory in KiB
//	18      1     argon2id parallelism
//	19      16    salt
//	35      24    XChaCha20-Poly1305 nonce, new for every write
//	59      4     length of the ciphertext
//	63      ...   ciphertext of a JSON document {"v":1,"profiles":{NAME:{ITEM:BASE64}}},
//	              sealed with the 63 header bytes as additional data
//
// The key is argon2id(passphrase, salt); the salt and parameters stay the
// same for the life of the file, so the key is derived once per open.
const (
	fileMagic      = "MFADKEYS"
	fileVersion    = 1
	kdfArgon2id    = 1
	fileSaltLen    = 16
	fileHeaderLen  = 8 + 1 + 1 + 4 + 4 + 1 + fileSaltLen + chacha20poly1305.NonceSizeX + 4
	fileKeyLen     = chacha20poly1305.KeySize
	fileDocVersion = 1

	// MinNewPassphraseLen is the fewest characters a passphrase for a new
	// keystore file may have.
	MinNewPassphraseLen = 8

	// maxFileSize bounds what the file backend reads: a keystore file is a
	// few KiB per profile.
	maxFileSize = 16 << 20
)

// KDFParams are the argon2id parameters that turn the file backend's
// passphrase into its key. They are stored in the file, so files written with
// other parameters stay readable.
type KDFParams struct {
	// Time is the number of passes over the memory.
	Time uint32
	// MemoryKiB is the memory used, in KiB.
	MemoryKiB uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultKDFParams returns the parameters for new files: 3 passes over
// 64 MiB, with as many threads as CPUs up to 4.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: uint8(min(4, max(1, runtime.NumCPU())))}
}

// Bounds on the key derivation parameters of a keystore file. They are read
// from the file before it can be authenticated, so they must not let a
// damaged or planted header make mfad spend more than a few seconds or a
// few hundred MiB: at most 4 times the default passes and memory.
const (
	// MaxKDFTime is the most argon2id passes a file may ask for.
	MaxKDFTime = 12
	// MaxKDFMemoryKiB is the most argon2id memory a file may ask for
	// (256 MiB).
	MaxKDFMemoryKiB = 256 << 10
	// MaxKDFThreads is the highest argon2id parallelism a file may ask for.
	MaxKDFThreads = 16
)

// validate rejects parameters outside what mfad writes or will spend on
// reading a file: 1 to MaxKDFTime passes, 1 to MaxKDFThreads threads, and
// from 8 KiB per thread (argon2's minimum) to MaxKDFMemoryKiB.
func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxKDFTime:
		return fmt.Errorf("argon2id passes %d out of range 1..%d", p.Time, MaxKDFTime)
	case p.Threads < 1 || p.Threads > MaxKDFThreads:
		return fmt.Errorf("argon2id parallelism %d out of range 1..%d", p.Threads, MaxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxKDFMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB out of range %d KiB..%d MiB", p.MemoryKiB, 8*uint32(p.Threads), MaxKDFMemoryKiB>>10)
	}
	return nil
}

// PassphraseRequest tells a passphrase function why the file backend asks.
type PassphraseRequest struct {
	// File is the keystore file the passphrase is for.
	File string
	// Create is true when the file does not exist yet: the passphrase will
	// protect a new file, so a prompt should ask for it twice.
	Create bool
}

type passphraseRequestKey struct{}

// PassphraseRequestFrom returns the request the file backend attached to the
// context it passes to a passphrase function; ok is false for other contexts.
func PassphraseRequestFrom(ctx context.Context) (req PassphraseRequest, ok bool) {
	req, ok = ctx.Value(passphraseRequestKey{}).(PassphraseRequest)
	return req, ok
}

// FileOption configures OpenFile.
type FileOption func(*fileStore)

// WithKDFParams sets the argon2id parameters for a file OpenFile creates;
// an existing file keeps the parameters in its header. Cheap parameters make
// the passphrase easier to guess: use them for tests only.
func WithKDFParams(p KDFParams) FileOption {
	return func(s *fileStore) { s.newParams = p }
}

// withAfterTempWrite sets a hook called after the temporary file is written
// and closed, before it replaces the store; an error aborts the write.
func withAfterTempWrite(hook func(tmp string) error) FileOption {
	return func(s *fileStore) { s.afterTempWrite = hook }
}

// fileStore is the file backend. mu serialises the goroutines of one
// process; an flock on lockPath serialises processes.
type fileStore struct {
	path           string
	lockPath       string
	passphrase     func(context.Context) ([]byte, error)
	newParams      KDFParams
	afterTempWrite func(tmp string) error

	mu  ctxMutex
	key *fileKey // nil until a passphrase was given
}

// fileKey is a derived key and the header fields it was derived for.
type fileKey struct {
	params KDFParams
	salt   []byte
	key    []byte
}

// fileDoc is the decrypted content of the file.
type fileDoc struct {
	Version  int                        `json:"v"`
	Profiles map[string]map[Item][]byte `json:"profiles"`
}

func (d *fileDoc) wipe() {
	for _, items := range d.Profiles {
		for _, v := range items {
			clear(v)
		}
	}
}

// fileHeader is the plaintext start of the file.
type fileHeader struct {
	params KDFParams
	salt   [fileSaltLen]byte
	nonce  [chacha20poly1305.NonceSizeX]byte
	ctLen  uint32
}

func (h *fileHeader) marshal() []byte {
	b := make([]byte, 0, fileHeaderLen)
	b = append(b, fileMagic...)
	b = append(b, fileVersion, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, h.params.Time)
	b = binary.BigEndian.AppendUint32(b, h.params.MemoryKiB)
	b = append(b, h.params.Threads)
	b = append(b, h.salt[:]...)
	b = append(b, h.nonce[:]...)
	return binary.BigEndian.AppendUint32(b, h.ctLen)
}

// OpenFile opens the encrypted keystore file at path (backend "file"; ""
// means DefaultFilePath). passphrase is called when the key is needed: at
// once when the file exists, on the first Set when it does not (a missing
// file is an empty store). The derived key, not the passphrase, is kept for
// the life of the Store; the backend clears the passphrase bytes after use.
func OpenFile(ctx context.Context, path string, passphrase func(ctx context.Context) ([]byte, error), opts ...FileOption) (Store, error) {
	if passphrase == nil {
		return nil, errors.New("keystore: OpenFile needs a passphrase function (PassphraseFromEnv or PassphrasePrompt)")
	}
	if path == "" {
		p, err := DefaultFilePath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve keystore file path %s: %w", path, err)
	}
	s := &fileStore{
		path:       abs,
		lockPath:   abs + ".lock",
		passphrase: passphrase,
		newParams:  DefaultKDFParams(),
		mu:         newCtxMutex(),
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.newParams.validate(); err != nil {
		return nil, fmt.Errorf("keystore: invalid key derivation parameters for new files: %w", err)
	}

	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("cannot read keystore file %s: %w", abs, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("keystore file %s is not a regular file: set keyring.file to a file path", abs)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("keystore file is accessible to other users; mfad rewrites it with mode 0600 on the next change, or run chmod 600 on it",
			"file", abs, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	if err := s.mu.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.unlock()
	doc, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	doc.wipe()
	return s, nil
}

// Backend returns "file".
func (s *fileStore) Backend() string { return BackendFile }

// Get decrypts the file and returns one value.
func (s *fileStore) Get(ctx context.Context, profile string, item Item) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(profile, item); err != nil {
		return nil, err
	}
	if err := s.mu.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.unlock()
	doc, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	v, ok := doc.Profiles[profile][item]
	if ok {
		delete(doc.Profiles[profile], item)
	}
	doc.wipe()
	if !ok {
		return nil, notFound(BackendFile, profile, item)
	}
	return v, nil
}

// Set rewrites the file with the new value.
func (s *fileStore) Set(ctx context.Context, profile string, item Item, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(profile, item); err != nil {
		return err
	}
	if err := checkValue(profile, item, value); err != nil {
		return err
	}
	return s.update(ctx, true, func(doc *fileDoc) bool {
		items := doc.Profiles[profile]
		if items == nil {
			items = make(map[Item][]byte)
			doc.Profiles[profile] = items
		}
		items[item] = bytes.Clone(value)
		return true
	})
}

// Delete rewrites the file without the item; the file is left alone when
// the item is absent.
func (s *fileStore) Delete(ctx context.Context, profile string, item Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(profile, item); err != nil {
		return err
	}
	return s.update(ctx, false, func(doc *fileDoc) bool {
		items := doc.Profiles[profile]
		if _, ok := items[item]; !ok {
			return false
		}
		delete(items, item)
		if len(items) == 0 {
			delete(doc.Profiles, profile)
		}
		return true
	})
}

// Profiles decrypts the file and lists its profiles.
func (s *fileStore) Profiles(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.mu.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.unlock()
	doc, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer doc.wipe()
	names := make([]string, 0, len(doc.Profiles))
	for name, items := range doc.Profiles {
		if len(items) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// update runs a read-modify-write cycle under both locks: the file is read
// again under the flock, so a change another process made meanwhile is kept.
// change reports whether it changed the document; if not, nothing is
// written. Unless create is set, a missing file is left missing.
func (s *fileStore) update(ctx context.Context, create bool, change func(*fileDoc) bool) error {
	if err := s.mu.lock(ctx); err != nil {
		return err
	}
	defer s.mu.unlock()
	if !create {
		if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("cannot create the directory of keystore file %s: %w", s.path, err)
	}
	unlock, err := fileutil.Lock(ctx, s.lockPath)
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := s.read(ctx)
	if err != nil {
		return err
	}
	defer doc.wipe()
	if !change(doc) {
		return nil
	}
	return s.write(ctx, doc)
}

// read reads and decrypts the file; a missing file is an empty document.
// The caller holds s.mu.
func (s *fileStore) read(ctx context.Context) (*fileDoc, error) {
	doc := &fileDoc{Version: fileDocVersion, Profiles: map[string]map[Item][]byte{}}
	data, err := readFileLimited(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return doc, nil
	case err != nil:
		return nil, fmt.Errorf("cannot read keystore file %s: %w", s.path, err)
	}
	hdr, aad, ct, err := parseFile(data)
	if errors.Is(err, errUnknownVersion) {
		return nil, fmt.Errorf("keystore file %s: %w", s.path, err)
	}
	if err != nil {
		return nil, s.corrupt(err.Error())
	}
	k, fresh, err := s.keyFor(ctx, hdr.params, hdr.salt[:], false)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(k.key)
	if err != nil {
		return nil, fmt.Errorf("keystore: cannot set up the cipher: %w", err)
	}
	plain, err := aead.Open(nil, hdr.nonce[:], ct, aad)
	if err != nil {
		if fresh {
			s.forgetKey()
		}
		return nil, fmt.Errorf("cannot decrypt %s: %w; if you are sure of the passphrase, restore it from a backup",
			s.path, ErrWrongPassphrase)
	}
	defer clear(plain)
	var decoded fileDoc
	if err := json.Unmarshal(plain, &decoded); err != nil || decoded.Version != fileDocVersion {
		decoded.wipe()
		return nil, s.corrupt("its decrypted content is not a keystore document")
	}
	if decoded.Profiles != nil {
		doc.Profiles = decoded.Profiles
	}
	return doc, nil
}

// write encrypts doc and replaces the file with it. The caller holds s.mu
// and the flock.
func (s *fileStore) write(ctx context.Context, doc *fileDoc) error {
	if s.key == nil {
		var salt [fileSaltLen]byte
		if _, err := rand.Read(salt[:]); err != nil {
			return fmt.Errorf("keystore: cannot draw a random salt: %w", err)
		}
		if _, _, err := s.keyFor(ctx, s.newParams, salt[:], true); err != nil {
			return err
		}
	}
	hdr := fileHeader{params: s.key.params}
	copy(hdr.salt[:], s.key.salt)
	if _, err := rand.Read(hdr.nonce[:]); err != nil {
		return fmt.Errorf("keystore: cannot draw a random nonce: %w", err)
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("keystore: cannot encode the store: %w", err)
	}
	defer clear(plain)
	aead, err := chacha20poly1305.NewX(s.key.key)
	if err != nil {
		return fmt.Errorf("keystore: cannot set up the cipher: %w", err)
	}
	hdr.ctLen = uint32(len(plain) + aead.Overhead())
	aad := hdr.marshal()
	out := aead.Seal(aad, hdr.nonce[:], plain, aad)
	if err := s.replaceFile(out); err != nil {
		return fmt.Errorf("cannot write keystore file %s (its previous content is unchanged): %w", s.path, err)
	}
	return nil
}

// replaceFile replaces the store's file with data, atomically and durably.
// A directory that could not be flushed after the rename is only logged:
// the new content is in place.
func (s *fileStore) replaceFile(data []byte) error {
	var opts []fileutil.AtomicOption
	if s.afterTempWrite != nil {
		opts = append(opts, fileutil.BeforeRename(s.afterTempWrite))
	}
	err := fileutil.WriteFileAtomic(s.path, data, 0o600, opts...)
	if errors.Is(err, fileutil.ErrDirNotSynced) {
		slog.Warn("keystore file written, but its directory could not be flushed; a crash soon may lose the change",
			"file", s.path, "err", err)
		return nil
	}
	return err
}

// keyFor returns the key for the given header fields, asking for the
// passphrase and deriving the key unless the cached one matches. fresh
// reports a key derived just now (not yet proven right). The caller holds
// s.mu.
func (s *fileStore) keyFor(ctx context.Context, params KDFParams, salt []byte, create bool) (k *fileKey, fresh bool, err error) {
	if s.key != nil && s.key.params == params && bytes.Equal(s.key.salt, salt) {
		return s.key, false, nil
	}
	pctx := context.WithValue(ctx, passphraseRequestKey{}, PassphraseRequest{File: s.path, Create: create})
	pass, err := s.passphrase(pctx)
	if err != nil {
		return nil, false, fmt.Errorf("cannot get the passphrase of keystore file %s: %w", s.path, err)
	}
	defer clear(pass)
	if len(pass) == 0 {
		return nil, false, fmt.Errorf("the passphrase for keystore file %s is empty: give the passphrase, or set MFAD_FILE_PASSPHRASE", s.path)
	}
	if create && utf8.RuneCount(pass) < MinNewPassphraseLen {
		return nil, false, fmt.Errorf("the passphrase for the new keystore file %s has %d characters: choose one of at least %d",
			s.path, utf8.RuneCount(pass), MinNewPassphraseLen)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.forgetKey()
	s.key = &fileKey{
		params: params,
		salt:   bytes.Clone(salt),
		key:    argon2.IDKey(pass, salt, params.Time, params.MemoryKiB, params.Threads, fileKeyLen),
	}
	return s.key, true, nil
}

// forgetKey drops the cached key. The caller holds s.mu.
func (s *fileStore) forgetKey() {
	if s.key != nil {
		clear(s.key.key)
		s.key = nil
	}
}

// corrupt returns the error for a damaged file.
func (s *fileStore) corrupt(why string) error {
	return fmt.Errorf("%w: %s: %s; mfad will not change it: restore it from a backup, or move it away to start an empty store (its secrets are then lost)",
		ErrCorruptFile, s.path, why)
}

// readFileLimited reads a whole file, refusing files far larger than a
// keystore can be.
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, far larger than a keystore file", ErrCorruptFile, path, fi.Size())
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+1))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errUnknownVersion reports a file written in a format this mfad predates.
var errUnknownVersion = errors.New("it has format version")

// parseFile splits a keystore file into its header, the bytes the header
// authenticates, and the ciphertext. Its errors say what is wrong.
func parseFile(data []byte) (hdr fileHeader, aad, ct []byte, err error) {
	switch {
	case len(data) == 0:
		return hdr, nil, nil, errors.New("it is empty")
	case len(data) < len(fileMagic):
		if bytes.HasPrefix([]byte(fileMagic), data) {
			return hdr, nil, nil, fmt.Errorf("it is truncated (%d bytes, shorter than its header)", len(data))
		}
		return hdr, nil, nil, errors.New("it is not an mfad keystore file")
	case string(data[:len(fileMagic)]) != fileMagic:
		return hdr, nil, nil, errors.New("it is not an mfad keystore file")
	case len(data) < fileHeaderLen:
		return hdr, nil, nil, fmt.Errorf("it is truncated (%d bytes, shorter than its %d-byte header)", len(data), fileHeaderLen)
	}
	if v := data[8]; v != fileVersion {
		return hdr, nil, nil, fmt.Errorf("%w %d, which this mfad does not read: use a newer mfad", errUnknownVersion, v)
	}
	if kdf := data[9]; kdf != kdfArgon2id {
		return hdr, nil, nil, fmt.Errorf("it names key derivation function %d, which this mfad does not know", kdf)
	}
	hdr.params = KDFParams{
		Time:      binary.BigEndian.Uint32(data[10:14]),
		MemoryKiB: binary.BigEndian.Uint32(data[14:18]),
		Threads:   data[18],
	}
	if err := hdr.params.validate(); err != nil {
		return hdr, nil, nil, fmt.Errorf("its header is invalid: %w", err)
	}
	off := 19
	off += copy(hdr.salt[:], data[off:])
	off += copy(hdr.nonce[:], data[off:])
	hdr.ctLen = binary.BigEndian.Uint32(data[off:])
	body := data[fileHeaderLen:]
	switch {
	case hdr.ctLen < chacha20poly1305.Overhead:
		return hdr, nil, nil, fmt.Errorf("its header is invalid: ciphertext length %d", hdr.ctLen)
	case uint64(len(body)) < uint64(hdr.ctLen):
		return hdr, nil, nil, fmt.Errorf("it is truncated (%d of %d bytes)", len(data), fileHeaderLen+int64(hdr.ctLen))
	case uint64(len(body)) > uint64(hdr.ctLen):
		return hdr, nil, nil, fmt.Errorf("it has %d bytes of unexpected data at its end", uint64(len(body))-uint64(hdr.ctLen))
	}
	return hdr, data[:fileHeaderLen], body, nil
}
