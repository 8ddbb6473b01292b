package soft

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/crypto/argon2"
)

// An Unsealer supplies the key-encryption key (KEK) that seals the HSM's
// state file. [InsecureDevKeyFile] and [Passphrase] are the
// implementations; the interface is closed so that every KEK source is
// reviewed here.
type Unsealer interface {
	// setKDF chooses the KDF and its parameters for a new state file.
	setKDF(h *sealHeader, c *config)
	// kek derives the KEK for a state file with header h; creating is
	// set while the file is being created. The caller clears the KEK.
	kek(h *sealHeader, c *config, creating bool) ([]byte, error)
}

// InsecureDevKeyFile returns an [Unsealer] that reads a 32-byte key from
// the file at path, stored raw or as 64 hex digits (surrounding white
// space ignored). The name says what it is: a node unsealed this way is as
// safe as the key file, which dev mode keeps beside the state file.
// The file must not be accessible by group or others, and must not be a
// symbolic link (on systems with O_NOFOLLOW); the mode is checked on the
// opened file. A refused key file makes [Create] and [Open] fail with an
// error matching [ErrKeyFileFormat], [ErrFileMode], [ErrSymlink] or
// [ErrFileTooLong].
//
// With create set, [Create] and [CreateWithoutDomain] create a missing key
// file with mode 0600 holding a fresh random key in hex ([Open] never
// does). That is for development: anyone who can read the file can unseal
// the HSM, so a deployment should keep the key file on other
// storage than the state file, or use [Passphrase].
//
// The KEK is HKDF-SHA256(key, salt, "trent/hsm-state/v1/key-file").
func InsecureDevKeyFile(path string, create bool) Unsealer {
	return keyFile{path: path, create: create}
}

type keyFile struct {
	path   string
	create bool
}

func (k keyFile) setKDF(h *sealHeader, _ *config) {
	h.kdf = kdfKeyFile
}

func (k keyFile) kek(h *sealHeader, c *config, creating bool) ([]byte, error) {
	if h.kdf != kdfKeyFile {
		return nil, ErrWrongUnsealer
	}
	key, err := k.load(c, creating)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return hkdf.Key(sha256.New, key, h.salt[:], keyFileKEKLabel, keySize)
}

// load reads the key file. While a state file is being created it first
// creates a missing key file, if allowed; a missing key file is never
// replaced for an existing state file, which it could not open.
func (k keyFile) load(c *config, creating bool) ([]byte, error) {
	data, err := readSecretFile(k.path, true, maxSecretFile)
	if errors.Is(err, fs.ErrNotExist) && k.create && creating {
		return k.generate(c)
	}
	if err != nil {
		return nil, fmt.Errorf("soft: key file: %w", err)
	}
	defer clear(data)
	if len(data) == keySize {
		return clone(data), nil
	}
	if t := bytes.TrimSpace(data); len(t) == 2*keySize {
		key := make([]byte, keySize)
		if _, err := hex.Decode(key, t); err == nil {
			return key, nil
		}
		clear(key)
	}
	return nil, mark(ErrKeyFileFormat, fmt.Errorf("soft: key file %s must hold 32 raw bytes or 64 hex digits", k.path))
}

// generate creates the key file with a fresh key and returns the key.
func (k keyFile) generate(c *config) ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := io.ReadFull(c.rand(), key); err != nil {
		return nil, fmt.Errorf("soft: reading randomness: %v", err)
	}
	text := make([]byte, 2*keySize+1)
	hex.Encode(text, key)
	text[2*keySize] = '\n'
	defer clear(text)
	if err := writeFileAtomic(k.path, text, true); err != nil {
		clear(key)
		return nil, fmt.Errorf("soft: creating key file: %w", err)
	}
	return key, nil
}

// MinPassphraseLen is the shortest passphrase, in bytes, that [Create] and
// [CreateWithoutDomain] accept. [Open] accepts shorter ones, so that a
// state file sealed before the limit existed still opens (the passphrase
// of a state file cannot be changed).
const MinPassphraseLen = 16

// ErrShortPassphrase is returned by [Create] and [CreateWithoutDomain] for
// a passphrase shorter than [MinPassphraseLen].
var ErrShortPassphrase = fmt.Errorf("soft: the passphrase must be at least %d bytes long", MinPassphraseLen)

// Passphrase returns an [Unsealer] that derives the KEK from a passphrase
// with Argon2id. New state files use t=3 passes, m=64 MiB, p=4 lanes
// (RFC 9106's second recommendation) unless [WithArgon2] says otherwise;
// the parameters are stored in the file's header. A new state file needs
// a passphrase of at least [MinPassphraseLen] bytes. The caller should
// clear p once [Create], [CreateWithoutDomain] or [Open] has returned.
func Passphrase(p []byte) Unsealer {
	return passphrase{p: p}
}

type passphrase struct {
	p []byte
}

func (p passphrase) setKDF(h *sealHeader, c *config) {
	h.kdf = kdfArgon2id
	h.time, h.memory, h.threads = c.argonTime, c.argonMemory, c.argonThreads
}

func (p passphrase) kek(h *sealHeader, _ *config, creating bool) ([]byte, error) {
	if h.kdf != kdfArgon2id {
		return nil, ErrWrongUnsealer
	}
	switch {
	case len(p.p) == 0:
		return nil, errors.New("soft: empty passphrase")
	case creating && len(p.p) < MinPassphraseLen:
		return nil, fmt.Errorf("%w (it is %d)", ErrShortPassphrase, len(p.p))
	}
	if err := h.checkKDF(); err != nil {
		return nil, err
	}
	return argon2.IDKey(p.p, h.salt[:], h.time, h.memory, h.threads, keySize), nil
}

// maxSecretFile bounds a key or passphrase file, trailing newline included.
const maxSecretFile = 1024

// Why a key or passphrase file is refused. An error that matches one of
// these (with errors.Is) keeps its own text, which names the file and, for
// [ErrFileMode], the chmod that fixes it.
var (
	// ErrFileMode: the file is accessible by group or others.
	ErrFileMode = errors.New("soft: secret file is accessible by group or others")
	// ErrFileTooLong: the file is longer than 1 KiB.
	ErrFileTooLong = errors.New("soft: secret file is too long")
	// ErrSymlink: the key file is a symbolic link, which is not followed.
	ErrSymlink = errors.New("soft: key file is a symbolic link")
	// ErrEmptyPassphraseFile: the passphrase file holds nothing but line
	// endings.
	ErrEmptyPassphraseFile = errors.New("soft: passphrase file is empty")
	// ErrKeyFileFormat: the key file holds neither 32 raw bytes nor 64 hex
	// digits.
	ErrKeyFileFormat = errors.New("soft: key file must hold 32 raw bytes or 64 hex digits")
)

// markedError is err, which errors.Is also finds to be sentinel.
type markedError struct {
	sentinel, err error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.sentinel, e.err} }

// mark returns err, matching sentinel too, with err's text unchanged.
func mark(sentinel, err error) error { return &markedError{sentinel, err} }

// ReadPassphraseFile reads a passphrase for [Passphrase] from the file at
// path, without its trailing CR and LF characters. The file must not be
// accessible by group or others, must not be empty and may hold at most
// 1 KiB. The mode is checked on the opened file, so a file swapped in
// between the check and the read is never used. A refusal matches
// [ErrFileMode], [ErrEmptyPassphraseFile] or [ErrFileTooLong]. The caller
// clears the result once it is done with it.
func ReadPassphraseFile(path string) ([]byte, error) {
	b, err := readSecretFile(path, false, maxSecretFile)
	if err != nil {
		return nil, fmt.Errorf("soft: passphrase file: %w", err)
	}
	p := bytes.TrimRight(b, "\r\n")
	if len(p) == 0 {
		clear(b)
		return nil, mark(ErrEmptyPassphraseFile, fmt.Errorf("soft: passphrase file %s is empty", path))
	}
	return p, nil
}

// readSecretFile reads a file of at most max bytes that holds a secret. It
// checks the mode on the opened descriptor: the file must not be
// accessible by group or others (except on Windows, which has no such
// bits). With noFollow set, a symbolic link as the last path element is
// refused (O_NOFOLLOW where the system has it), so a file that Trent
// created cannot be redirected. Errors name the path; the caller clears
// the result. The result is read into one buffer, never reallocated, so
// clearing it wipes every copy this function made.
func readSecretFile(path string, noFollow bool, max int) ([]byte, error) {
	flags := os.O_RDONLY
	if noFollow {
		flags |= oNoFollow
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if noFollow && isSymlinkRefusal(err) {
			return nil, mark(ErrSymlink, fmt.Errorf("%s is a symbolic link; refusing to follow it: %w", path, err))
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, mark(ErrFileMode, fmt.Errorf("%s has mode %v; it must not be accessible by group or others (chmod 600 %s)",
			path, fi.Mode().Perm(), path))
	}
	buf := make([]byte, max+1)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		clear(buf)
		return nil, mark(ErrFileTooLong, fmt.Errorf("%s is longer than %d bytes", path, max))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n:n], nil
	default:
		clear(buf)
		return nil, err
	}
}
