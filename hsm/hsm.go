// Package hsm defines Trent's hardware-security-module boundary: the types
// and errors shared by every HSM backend, and the contract they honour.
//
// Key material never leaves a backend in plaintext. A backend generates
// material for a KMS key version and hands out only an exported key token
// (EKT): the material wrapped under the cluster domain key and bound to the
// key id, version id and spec. Every later operation passes the EKT back in
// a [KeyRef]; the backend unwraps it internally.
//
// Symmetric encryption uses a per-message key
//
//	K = HKDF-Expand-SHA256(material, "trent/sym/v1" || 0x00 || keyID || versionID || nonce, 32)
//
// and AES-256-GCM with a random 12-byte IV. The caller chooses the 16-byte
// KDF nonce and the additional data (the ciphertext header followed by the
// canonical encryption context); the backend returns IV || ciphertext || tag.
// docs/ciphertext.md describes the blob built around it.
//
// Backends: [github.com/trentkms/trent/hsm/soft] (pure Go, the default).
package hsm

import "errors"

// KeySpec names the kind of material a key version holds.
type KeySpec uint8

// Key specs. Only SymmetricDefault exists today; the numbering is stable
// because it is bound into every EKT.
const (
	// SymmetricDefault is 256 bits of AES-GCM key material (AWS SYMMETRIC_DEFAULT).
	SymmetricDefault KeySpec = 1
)

// String returns the AWS name of the spec.
func (s KeySpec) String() string {
	switch s {
	case SymmetricDefault:
		return "SYMMETRIC_DEFAULT"
	default:
		return "UNKNOWN"
	}
}

// KeyRef names one version of a KMS key's material and carries its EKT.
// All of its fields are public information.
type KeyRef struct {
	// KeyID is the 16-byte UUID of the KMS key.
	KeyID [16]byte
	// VersionID identifies the material version (AWS's HBKID).
	VersionID [16]byte
	// Spec is the kind of material.
	Spec KeySpec
	// EKT is the material wrapped under the domain key.
	EKT []byte
}

// SealOverhead is how many bytes Seal adds to a plaintext: IV and GCM tag.
const SealOverhead = 12 + 16

// Errors returned by backends. Callers compare with errors.Is.
var (
	// ErrAuthentication is returned by Open for every failure to
	// authenticate a ciphertext or an EKT: wrong key, wrong additional
	// data, a flipped bit, a truncated body. It says nothing more, on purpose.
	ErrAuthentication = errors.New("hsm: message authentication failed")
	// ErrSealed is returned while the backend's state is sealed.
	ErrSealed = errors.New("hsm: sealed")
	// ErrUnsupported is returned for a key spec or operation the backend lacks.
	ErrUnsupported = errors.New("hsm: unsupported operation")
)
