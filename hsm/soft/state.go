package soft

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trentkms/trent/failpoint"
)

// Sealed state file, format v1 (see the package documentation):
//
//	off len field
//	0   8   magic "TRENTHSM"
//	8   1   format version = 0x01
//	9   1   kdf: 0x01 key file (HKDF-SHA256), 0x02 passphrase (Argon2id)
//	10  4   argon2 time (passes)      } zero for kdf 0x01
//	14  4   argon2 memory (KiB)       }
//	18  1   argon2 threads            }
//	19  16  salt
//	35  12  GCM nonce
//	47  n   AES-256-GCM(KEK, nonce, state, AAD = bytes [0,47)) || tag
const (
	stateMagic      = "TRENTHSM"
	stateFormat     = 0x01
	kdfKeyFile      = 0x01
	kdfArgon2id     = 0x02
	saltSize        = 16
	stateHeaderSize = len(stateMagic) + 1 + 1 + 9 + saltSize + ivSize
	// maxStateFile bounds how much of a state file is read.
	maxStateFile = 64 << 10
)

// State plaintext, version 1:
//
//	off len field
//	0   1   state version = 0x01
//	1   2   identity KEM id = 0x0020 (DHKEM(X25519, HKDF-SHA256))
//	3   32  identity private key
//	35  1   domain key present: 0x00 no, 0x01 yes
//	36  32  domain key        } only if present
//	68  16  domain key id     }
const (
	stateVersion     = 0x01
	kemX25519        = 0x0020
	identitySize     = 32
	stateSizeNoDK    = 1 + 2 + identitySize + 1
	stateSizeWithDK  = stateSizeNoDK + keySize + 16
	dkidLabel        = "trent/dkid/v1"
	keyFileKEKLabel  = "trent/hsm-state/v1/key-file"
	maxArgon2Time    = 64
	maxArgon2MemKiB  = 4 << 20 // 4 GiB
	minArgon2MemKiB  = 8       // per thread, as in RFC 9106
	defaultArgonTime = 3
	defaultArgonMem  = 64 << 10 // 64 MiB
	defaultArgonPar  = 4
)

// Errors returned when opening a state file.
var (
	// ErrWrongKey is returned by [Open] when the state file does not
	// decrypt: the key file or passphrase is wrong, or the sealed part of
	// the file was altered (the two cannot be told apart).
	ErrWrongKey = errors.New("soft: cannot unseal HSM state: wrong key file or passphrase, or the state file was altered")
	// ErrWrongUnsealer is returned by [Open] when the state file is sealed
	// with a different kind of unsealer (a passphrase instead of a key file,
	// or the reverse).
	ErrWrongUnsealer = errors.New("soft: state file is sealed with a different kind of unsealer")
	// ErrCorruptState is returned by [Open] for a file that is not a state
	// file this version understands: bad magic, unknown format or KDF,
	// implausible parameters, or a truncated file.
	ErrCorruptState = errors.New("soft: HSM state file is corrupt or of an unknown format")
)

// sealHeader is the clear header of a state file.
type sealHeader struct {
	kdf     byte
	time    uint32 // argon2 passes
	memory  uint32 // argon2 KiB
	threads uint8  // argon2 lanes
	salt    [saltSize]byte
	nonce   [ivSize]byte
}

func (h *sealHeader) marshal() []byte {
	b := make([]byte, 0, stateHeaderSize)
	b = append(b, stateMagic...)
	b = append(b, stateFormat, h.kdf)
	b = binary.BigEndian.AppendUint32(b, h.time)
	b = binary.BigEndian.AppendUint32(b, h.memory)
	b = append(b, h.threads)
	b = append(b, h.salt[:]...)
	return append(b, h.nonce[:]...)
}

// parseStateFile splits a state file into its header and sealed state,
// checking everything that can be checked without the KEK.
func parseStateFile(data []byte) (sealHeader, []byte, error) {
	var h sealHeader
	if len(data) < stateHeaderSize+stateSizeNoDK+tagSize || len(data) > maxStateFile ||
		string(data[:8]) != stateMagic || data[8] != stateFormat {
		return h, nil, ErrCorruptState
	}
	h.kdf = data[9]
	h.time = binary.BigEndian.Uint32(data[10:14])
	h.memory = binary.BigEndian.Uint32(data[14:18])
	h.threads = data[18]
	copy(h.salt[:], data[19:35])
	copy(h.nonce[:], data[35:47])
	if err := h.checkKDF(); err != nil {
		return h, nil, err
	}
	return h, data[stateHeaderSize:], nil
}

// checkKDF rejects unknown KDFs and parameters that are implausible or
// would let a crafted file exhaust memory or time.
func (h *sealHeader) checkKDF() error {
	switch h.kdf {
	case kdfKeyFile:
		if h.time != 0 || h.memory != 0 || h.threads != 0 {
			return ErrCorruptState
		}
	case kdfArgon2id:
		if h.time < 1 || h.time > maxArgon2Time || h.threads < 1 ||
			h.memory < minArgon2MemKiB*uint32(h.threads) || h.memory > maxArgon2MemKiB {
			return ErrCorruptState
		}
	default:
		return ErrCorruptState
	}
	return nil
}

// state is the secret content of a state file.
type state struct {
	identity []byte   // serialized HPKE private key
	dk       []byte   // domain key, nil if none yet
	dkid     [16]byte // id of dk
	// Domain-key rotation (state version 2, rotate.go): the other domain
	// keys held beside dk, and the MAC root when it is not dk.
	others  []heldKey
	macRoot []byte
}

func (s *state) marshal() []byte {
	if s.rotated() {
		return s.marshalV2()
	}
	b := make([]byte, 0, stateSizeWithDK)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint16(b, kemX25519)
	b = append(b, s.identity...)
	if s.dk == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = append(b, s.dk...)
	return append(b, s.dkid[:]...)
}

// parseState decodes and validates a state plaintext. The result does not
// alias b.
func parseState(b []byte) (*state, error) {
	if len(b) > 0 && b[0] == stateVersionRotated {
		return parseStateV2(b)
	}
	if len(b) < stateSizeNoDK || b[0] != stateVersion ||
		binary.BigEndian.Uint16(b[1:3]) != kemX25519 {
		return nil, ErrCorruptState
	}
	s := &state{identity: clone(b[3 : 3+identitySize])}
	if _, err := hpke.DHKEM(x25519()).NewPrivateKey(s.identity); err != nil {
		return nil, ErrCorruptState
	}
	switch {
	case b[35] == 0 && len(b) == stateSizeNoDK:
		return s, nil
	case b[35] == 1 && len(b) == stateSizeWithDK:
		s.dk = clone(b[36 : 36+keySize])
		copy(s.dkid[:], b[36+keySize:])
		want, err := domainKeyID(s.dk)
		if err != nil || subtle.ConstantTimeCompare(want[:], s.dkid[:]) != 1 {
			s.wipe()
			return nil, ErrCorruptState
		}
		return s, nil
	default:
		s.wipe()
		return nil, ErrCorruptState
	}
}

func (s *state) wipe() {
	clear(s.identity)
	clear(s.dk)
	for _, o := range s.others {
		clear(o.dk)
	}
	clear(s.macRoot)
}

// clone copies b into a slice of exactly its length; nil stays nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// domainKeyID returns the public identifier of a domain key:
// HKDF-Expand-SHA256(dk, "trent/dkid/v1", 16).
func domainKeyID(dk []byte) ([16]byte, error) {
	id, err := hkdf.Expand(sha256.New, dk, dkidLabel, 16)
	if err != nil {
		return [16]byte{}, err
	}
	return [16]byte(id), nil
}

// sealState encrypts s under kek with header h (whose nonce is set here
// from rand) and returns the whole file.
func sealState(h *sealHeader, kek []byte, rand io.Reader, s *state) ([]byte, error) {
	if _, err := io.ReadFull(rand, h.nonce[:]); err != nil {
		return nil, fmt.Errorf("soft: reading randomness: %v", err)
	}
	gcm, err := stateGCM(kek)
	if err != nil {
		return nil, err
	}
	header := h.marshal()
	pt := s.marshal()
	defer clear(pt)
	return gcm.Seal(header, h.nonce[:], pt, header), nil
}

// openState decrypts the sealed part of a state file.
func openState(h *sealHeader, kek, sealed []byte) (*state, error) {
	gcm, err := stateGCM(kek)
	if err != nil {
		return nil, err
	}
	pt, err := gcm.Open(nil, h.nonce[:], sealed, h.marshal())
	if err != nil {
		return nil, ErrWrongKey
	}
	defer clear(pt)
	return parseState(pt)
}

// stateGCM returns AES-256-GCM under kek. The state file's nonce is part of
// its additional data, so it needs the explicit-nonce API.
func stateGCM(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// writeFileAtomic writes data to path with mode 0600 so that path holds
// either its old content or all of data, even across a crash: it writes a
// temporary file in the same directory, syncs it, moves it into place and
// syncs the directory. With exclusive set it fails with an error wrapping
// fs.ErrExist if path exists, and never replaces it.
func writeFileAtomic(path string, data []byte, exclusive bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The new content is durable in the temporary file, not yet in place.
	if err := failpoint.Hit("hsm-state-write"); err != nil {
		return err
	}
	if exclusive {
		// link(2) fails if path exists, so a concurrent creator cannot be
		// overwritten.
		if err := os.Link(tmp, path); err != nil {
			return err
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
