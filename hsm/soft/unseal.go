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
// state file. [KeyFile] and [Passphrase] are the implementations; the
// interface is closed so that every KEK source is reviewed here.
type Unsealer interface {
	// setKDF chooses the KDF and its parameters for a new state file.
	setKDF(h *sealHeader, c *config)
	// kek derives the KEK for a state file with header h; creating is
	// set while the file is being created. The caller clears the KEK.
	kek(h *sealHeader, c *config, creating bool) ([]byte, error)
}

// KeyFile returns an [Unsealer] that reads a 32-byte key from the file at
// path, stored raw or as 64 hex digits (surrounding white space ignored).
// The file must not be accessible by group or others.
//
// With create set, [Create] and [CreateWithoutDomain] create a missing key
// file with mode 0600 holding a fresh random key in hex ([Open] never does). That is for development: anyone who can read the file
// can unseal the HSM, so a deployment should keep the key file on other
// storage than the state file, or use [Passphrase].
//
// The KEK is HKDF-SHA256(key, salt, "trent/hsm-state/v1/key-file").
func KeyFile(path string, create bool) Unsealer {
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
	data, err := os.ReadFile(k.path)
	if errors.Is(err, fs.ErrNotExist) && k.create && creating {
		return k.generate(c)
	}
	if err != nil {
		return nil, fmt.Errorf("soft: reading key file: %w", err)
	}
	defer clear(data)
	if fi, err := os.Stat(k.path); err != nil {
		return nil, fmt.Errorf("soft: reading key file: %w", err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("soft: key file %s has mode %v; it must not be accessible by group or others (chmod 600)", k.path, fi.Mode().Perm())
	}
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
	return nil, fmt.Errorf("soft: key file %s must hold 32 raw bytes or 64 hex digits", k.path)
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

// Passphrase returns an [Unsealer] that derives the KEK from a passphrase
// with Argon2id. New state files use t=3 passes, m=64 MiB, p=4 lanes
// (RFC 9106's second recommendation) unless [WithArgon2] says otherwise;
// the parameters are stored in the file's header. The caller may clear p
// once [Create], [CreateWithoutDomain] or [Open] has returned.
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

func (p passphrase) kek(h *sealHeader, _ *config, _ bool) ([]byte, error) {
	if h.kdf != kdfArgon2id {
		return nil, ErrWrongUnsealer
	}
	if len(p.p) == 0 {
		return nil, errors.New("soft: empty passphrase")
	}
	if err := h.checkKDF(); err != nil {
		return nil, err
	}
	return argon2.IDKey(p.p, h.salt[:], h.time, h.memory, h.threads, keySize), nil
}
