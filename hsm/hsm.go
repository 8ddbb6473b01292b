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
// Asymmetric and HMAC keys are EKTs too. A backend whose capabilities
// list such specs also implements [Signer] (the public key of a pair, and
// signing), [Decrypter] (RSA-OAEP), [KeyAgreer] (ECDH) or [KeyMACer]
// (HMAC with a key); one that lists none need not, and the service
// answers UnsupportedOperationException for those specs and usages.
//
// [Backend] is the whole contract: what a node needs of any backend.
// Consumers (kms, cluster, iam, grants) declare the few methods they use
// as their own small interfaces, each satisfied by every Backend. The
// conformance suite [github.com/trentkms/trent/hsm/hsmtest] holds a
// backend to the contract; a new backend is done when it passes it.
//
// Backends: [github.com/trentkms/trent/hsm/soft] (pure Go, the default)
// and [github.com/trentkms/trent/hsm/pkcs11] (a PKCS#11 token; build tag
// pkcs11). They read each other's EKTs and domain tokens, so a cluster may
// mix them; docs/hsm.md describes both.
package hsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Backend is an HSM as a node uses it. Implementations are safe for
// concurrent use. Every method but Capabilities, IdentityPublicKey,
// DomainKeyID and Close takes a context and returns its error once it is
// done. After Close, every method that returns an error fails with an
// error wrapping [ErrClosed].
//
// Errors are typed: callers compare with errors.Is against the sentinels
// of this package. An error's text is for the node's log only; it may name
// backend internals and must never reach a client (kms answers
// KMSInternalException for everything but [ErrAuthentication]).
type Backend interface {
	// Capabilities reports what the backend can do. It is fixed once the
	// backend is open, and answers even after Close.
	Capabilities() Capabilities

	// GenerateKey generates fresh material of spec for (keyID, versionID)
	// inside the backend and returns it wrapped as an EKT, bound to the
	// ids and spec. A spec the backend lacks gives [ErrUnsupported];
	// without a domain key it fails with [ErrNoDomainKey].
	GenerateKey(ctx context.Context, spec KeySpec, keyID, versionID [16]byte) (ekt []byte, err error)
	// Seal unwraps ref.EKT inside the backend and encrypts plaintext with
	// the per-message key derived from nonce (see the package doc), under
	// additional data aad. It returns IV || ciphertext || tag, [SealOverhead]
	// bytes longer than plaintext. An EKT that does not authenticate for
	// ref (other ids, spec or domain key, a flipped bit) gives [ErrAuthentication].
	Seal(ctx context.Context, ref KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error)
	// Open reverses Seal. Every failure to authenticate the EKT or the
	// body (wrong key, ids, spec, nonce or aad, a flipped bit, a
	// truncation) is an error wrapping [ErrAuthentication] and nothing else.
	Open(ctx context.Context, ref KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error)
	// MAC returns a 32-byte tag of msg under a key derived from the domain
	// key and label (not empty), the same on every backend holding that
	// domain key; the cluster uses it for grant tokens and access keys.
	MAC(ctx context.Context, label string, msg []byte) ([]byte, error)
	// Random returns n bytes from the backend's generator, 0 <= n <= 1 MiB.
	Random(ctx context.Context, n int) ([]byte, error)
	// Forget drops whatever the backend keeps of keyID's material besides
	// its EKTs (unwrapped material it caches), for every version; the node
	// calls it when the key is deleted. The EKTs are the material:
	// destroying a key is destroying them, which the state machine does,
	// so a ref that still carries one keeps working. An operation in
	// flight when Forget is called leaves nothing of the key behind.
	// Forgetting a key the backend never saw does nothing.
	Forget(ctx context.Context, keyID [16]byte) error

	// IdentityPublicKey returns the backend's public identity key, to
	// which another backend exports the domain key; nil after Close.
	IdentityPublicKey() []byte
	// DomainKeyID returns the public id of the domain key, the same on
	// every backend holding it; all zeros while there is none.
	DomainKeyID() [16]byte
	// ExportDomain seals the domain key to the backend whose identity key
	// is recipientPub, binding info (cluster and joining node ids). The
	// token is public.
	ExportDomain(ctx context.Context, recipientPub []byte, info []byte) (token []byte, err error)
	// ImportDomain installs the domain key from a token made for this
	// backend with the same info, durably. A token that does not
	// authenticate gives [ErrAuthentication]; a backend already holding a
	// different domain key gives [ErrDomainMismatch]; re-importing the key
	// it holds does nothing.
	ImportDomain(ctx context.Context, token []byte, info []byte) error

	// Close releases the backend and wipes what secrets it can from
	// memory. It is idempotent.
	Close() error
}

// Capabilities is what a backend reports about itself.
type Capabilities struct {
	// Name names the backend kind, as the --hsm flag does ("soft").
	Name string
	// Specs are the key specs GenerateKey supports.
	Specs []KeySpec
	// NonExtractable is set when key material, domain keys and identity
	// keys live in a separate device and never in this process's memory.
	// The soft backend holds them in memory and does not set it.
	NonExtractable bool
}

// Supports reports whether the backend generates keys of spec.
func (c Capabilities) Supports(spec KeySpec) bool {
	return slices.Contains(c.Specs, spec)
}

// KeySpec names the kind of material a key version holds.
type KeySpec uint8

// Key specs. The numbering is stable because it is bound into every EKT.
const (
	// SymmetricDefault is 256 bits of AES-GCM key material (AWS SYMMETRIC_DEFAULT).
	SymmetricDefault KeySpec = 1

	// EccNistP256, EccNistP384 and EccNistP521 are ECDSA key pairs on the
	// NIST curves (AWS ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521).
	EccNistP256 KeySpec = 2
	EccNistP384 KeySpec = 3
	EccNistP521 KeySpec = 4
	// EccSecgP256k1 is an ECDSA key pair on secp256k1 (AWS ECC_SECG_P256K1).
	EccSecgP256k1 KeySpec = 5
	// EccNistEdwards25519 is an Ed25519 key pair (AWS ECC_NIST_EDWARDS25519).
	EccNistEdwards25519 KeySpec = 6
	// Rsa2048, Rsa3072 and Rsa4096 are RSA key pairs (AWS RSA_2048, ...).
	Rsa2048 KeySpec = 7
	Rsa3072 KeySpec = 8
	Rsa4096 KeySpec = 9
	// Hmac224 ... Hmac512 are HMAC keys as long as the digest of their
	// hash, SHA-224 to SHA-512 (AWS HMAC_224, ...).
	Hmac224 KeySpec = 10
	Hmac256 KeySpec = 11
	Hmac384 KeySpec = 12
	Hmac512 KeySpec = 13
	// MlDsa44, MlDsa65 and MlDsa87 are ML-DSA key pairs (FIPS 204; AWS
	// ML_DSA_44, ...).
	MlDsa44 KeySpec = 14
	MlDsa65 KeySpec = 15
	MlDsa87 KeySpec = 16
)

var specNames = map[KeySpec]string{
	SymmetricDefault:    "SYMMETRIC_DEFAULT",
	EccNistP256:         "ECC_NIST_P256",
	EccNistP384:         "ECC_NIST_P384",
	EccNistP521:         "ECC_NIST_P521",
	EccSecgP256k1:       "ECC_SECG_P256K1",
	EccNistEdwards25519: "ECC_NIST_EDWARDS25519",
	Rsa2048:             "RSA_2048",
	Rsa3072:             "RSA_3072",
	Rsa4096:             "RSA_4096",
	Hmac224:             "HMAC_224",
	Hmac256:             "HMAC_256",
	Hmac384:             "HMAC_384",
	Hmac512:             "HMAC_512",
	MlDsa44:             "ML_DSA_44",
	MlDsa65:             "ML_DSA_65",
	MlDsa87:             "ML_DSA_87",
}

// String returns the AWS name of the spec.
func (s KeySpec) String() string {
	if n, ok := specNames[s]; ok {
		return n
	}
	return "UNKNOWN"
}

// ParseKeySpec returns the spec with AWS name name.
func ParseKeySpec(name string) (KeySpec, bool) {
	for s, n := range specNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// Asymmetric reports whether the spec is a key pair: a private key that
// signs inside the backend and a public key that may leave it.
func (s KeySpec) Asymmetric() bool { return s >= EccNistP256 && s <= Rsa4096 || s.MLDSA() }

// MLDSA reports whether the spec is an ML-DSA key pair.
func (s KeySpec) MLDSA() bool { return s >= MlDsa44 && s <= MlDsa87 }

// HMAC reports whether the spec is an HMAC key.
func (s KeySpec) HMAC() bool { return s >= Hmac224 && s <= Hmac512 }

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
	// ErrNoDomainKey is returned by the operations that need the domain
	// key (GenerateKey, Seal, Open, MAC, ExportDomain) on a backend that
	// has none yet: a joining node before ImportDomain. It wraps [ErrSealed].
	ErrNoDomainKey = fmt.Errorf("hsm: no domain key: %w", ErrSealed)
	// ErrClosed is returned by every method of a closed backend. It wraps
	// [ErrSealed].
	ErrClosed = fmt.Errorf("hsm: closed: %w", ErrSealed)
	// ErrDomainMismatch is returned by ImportDomain when the backend
	// already holds a different domain key.
	ErrDomainMismatch = errors.New("hsm: backend already holds a different domain key")
)

// DomainRotator is implemented by backends that can rotate the domain
// key (docs/hsm.md, "Rotating the domain key"). The backend may hold
// several domain keys: the current one, under which GenerateKey wraps and
// which DomainKeyID names, and others beside it (a new key before the
// cluster switches to it, the old one until it is retired). Seal, Open and
// RewrapEKT open an EKT under whichever held key its domain key id
// (bytes 2 to 18 of every EKT format) names. MAC keeps the key the backend
// first had, so access-key secrets and grant tokens survive rotations.
// Every change is durable before the method returns.
type DomainRotator interface {
	// NewDomainKey generates a domain key inside the backend and holds it
	// beside the current one; it returns the key's id.
	NewDomainKey(ctx context.Context) ([16]byte, error)
	// ExportDomainKey is ExportDomain for the held key dkid.
	ExportDomainKey(ctx context.Context, dkid [16]byte, recipientPub, info []byte) ([]byte, error)
	// AddDomainKey opens a token ExportDomainKey made for this backend
	// with the same info and holds its key beside the current one; holding
	// it already does nothing.
	AddDomainKey(ctx context.Context, token, info []byte) ([16]byte, error)
	// UseDomainKey makes the held key dkid current; the previous current
	// key stays held.
	UseDomainKey(ctx context.Context, dkid [16]byte) error
	// RewrapEKT returns ref's material wrapped under the held key dkid,
	// bound to the same ids and spec; it never leaves the backend.
	RewrapEKT(ctx context.Context, ref KeyRef, dkid [16]byte) ([]byte, error)
	// DestroyDomainKey destroys the held key dkid, which must not be
	// current; destroying a key not held does nothing.
	DestroyDomainKey(ctx context.Context, dkid [16]byte) error
	// DomainKeyIDs lists the held keys, the current one first.
	DomainKeyIDs() [][16]byte
}

// EKTDomainKeyID returns the id of the domain key an EKT (of any format)
// is wrapped under, and false for a blob too short to be an EKT.
func EKTDomainKeyID(ekt []byte) ([16]byte, bool) {
	if len(ekt) < 18 {
		return [16]byte{}, false
	}
	return [16]byte(ekt[2:18]), true
}
