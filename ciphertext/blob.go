package ciphertext

import "errors"

// Format constants of blob v1.
const (
	// Version is the only blob format version this package reads and writes.
	Version = 0x01
	// SuiteAES256GCM is suite 1: AES-256-GCM under a key derived with
	// HKDF-Expand-SHA256, a 16-byte KDF nonce, a 12-byte IV and a 16-byte tag.
	SuiteAES256GCM = 0x01

	// HeaderSize is the length of the header: version, suite, key id,
	// version id and KDF nonce. The header is part of the additional data.
	HeaderSize = 50
	// IVSize is the length of the GCM IV that starts the body.
	IVSize = 12
	// TagSize is the length of the GCM tag that ends the body.
	TagSize = 16
	// Overhead is how many bytes a blob adds to its plaintext.
	Overhead = HeaderSize + IVSize + TagSize
	// MaxPlaintext is the largest plaintext a blob may carry (AWS's 4 KiB
	// Encrypt limit).
	MaxPlaintext = 4096
	// MaxSize is the length of the largest valid blob.
	MaxSize = Overhead + MaxPlaintext
)

// ErrInvalid is returned by [Parse] (and [AAD]) for every malformed blob. It
// deliberately carries no detail.
var ErrInvalid = errors.New("ciphertext: invalid ciphertext blob")

// Blob is a parsed ciphertext blob, format v1. All of its fields are public
// information. The zero value is not a valid blob until Body is set.
type Blob struct {
	// KeyID is the 16-byte UUID of the KMS key.
	KeyID [16]byte
	// VersionID names the key material version the blob was sealed under.
	VersionID [16]byte
	// Nonce is the per-message KDF nonce.
	Nonce [16]byte
	// Body is IV || ciphertext || tag, exactly what the HSM's Seal returns
	// and its Open takes.
	Body []byte
}

// Header returns the 50 header bytes: version, suite, key id, version id
// and KDF nonce.
func (b *Blob) Header() []byte {
	h := make([]byte, HeaderSize)
	b.putHeader(h)
	return h
}

func (b *Blob) putHeader(h []byte) {
	h[0] = Version
	h[1] = SuiteAES256GCM
	copy(h[2:18], b.KeyID[:])
	copy(h[18:34], b.VersionID[:])
	copy(h[34:50], b.Nonce[:])
}

// Marshal returns the wire form of the blob: header || body. It does not
// validate Body; a blob built from an HSM's Seal output is well formed.
func (b *Blob) Marshal() []byte {
	out := make([]byte, HeaderSize+len(b.Body))
	b.putHeader(out)
	copy(out[HeaderSize:], b.Body)
	return out
}

// Parse parses a blob v1. It checks the length (at least [Overhead], at most
// [MaxSize]), the version and the suite, and returns [ErrInvalid] for any
// failure. The returned blob does not alias data.
func Parse(data []byte) (*Blob, error) {
	if len(data) < Overhead || len(data) > MaxSize ||
		data[0] != Version || data[1] != SuiteAES256GCM {
		return nil, ErrInvalid
	}
	b := &Blob{Body: make([]byte, len(data)-HeaderSize)}
	copy(b.KeyID[:], data[2:18])
	copy(b.VersionID[:], data[18:34])
	copy(b.Nonce[:], data[34:50])
	copy(b.Body, data[HeaderSize:])
	return b, nil
}

// AAD returns the additional data authenticated with a blob: the 50-byte
// header followed by the canonical encoding of the encryption context ec.
// It returns [ErrInvalid] if header is not [HeaderSize] bytes, and an error
// wrapping [ErrInvalidContext] if ec breaks a context rule.
func AAD(header []byte, ec map[string]string) ([]byte, error) {
	if len(header) != HeaderSize {
		return nil, ErrInvalid
	}
	size, err := contextSize(ec)
	if err != nil {
		return nil, err
	}
	out := make([]byte, HeaderSize, HeaderSize+size)
	copy(out, header)
	return appendContext(out, ec), nil
}
