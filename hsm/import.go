package hsm

import (
	"context"
	"crypto"
	"errors"
)

// Importer is the part of a backend that imports key material (AWS
// Origin EXTERNAL, "bring your own key"). A client encrypts its material
// to an RSA wrapping key pair that the backend generated; the backend
// decrypts it inside and hands out only the material's EKT. The wrapping
// private key, like every private key, leaves the backend only as an
// EKT, under a key of its own: a wrapping-key EKT never opens as key
// material, nor a key EKT as a wrapping key.
type Importer interface {
	// GenerateWrappingKey generates an RSA wrapping key pair of spec
	// (Rsa2048, Rsa3072 or Rsa4096) for importing material into keyID,
	// and returns its private key as an EKT bound to keyID and wrapID,
	// and its public key as a DER SubjectPublicKeyInfo.
	GenerateWrappingKey(ctx context.Context, spec KeySpec, keyID, wrapID [16]byte) (ekt, publicKey []byte, err error)
	// ImportKey decrypts encrypted, key material wrapped under alg with
	// the public key of wrap (a wrapping key from GenerateWrappingKey:
	// KeyID the key, VersionID the wrapID, Spec its RSA spec, EKT its
	// private key), checks that the material is a key of spec (32 bytes
	// for SymmetricDefault, [KeySpec.HMACMaterialSize] for HMAC specs, a
	// PKCS#8 DER private key of the spec's type and size for key pairs)
	// and returns it as the EKT of version versionID of key wrap.KeyID. A wrapping-key EKT that does not
	// authenticate and material that does not decrypt give
	// [ErrAuthentication]; material that is not a key of spec gives
	// [ErrKeyMaterial].
	ImportKey(ctx context.Context, wrap KeyRef, alg WrappingAlgorithm, encrypted []byte, spec KeySpec, versionID [16]byte) (*Imported, error)
}

// Imported is the result of [Importer.ImportKey].
type Imported struct {
	// EKT is the material wrapped under the domain key, as GenerateKey
	// returns it.
	EKT []byte
	// PublicKey is the DER SubjectPublicKeyInfo of an asymmetric key; nil
	// for symmetric and HMAC keys.
	PublicKey []byte
	// Fingerprint identifies the material without revealing it: the
	// backend's MAC (see [Backend].MAC) under label [FingerprintLabel] of
	// the key id, the spec and the material (for a key pair, its public
	// key). Importing the same material into the same key gives the same
	// fingerprint on every backend holding the domain key.
	Fingerprint []byte
}

// FingerprintLabel is the MAC label of [Imported.Fingerprint].
const FingerprintLabel = "trent/import/fingerprint/v1"

// FingerprintInput is the message whose MAC is a material's fingerprint:
// keyID || spec || canonical, where canonical is the material of a
// symmetric or HMAC key and the DER public key of a key pair.
func FingerprintInput(keyID [16]byte, spec KeySpec, canonical []byte) []byte {
	msg := make([]byte, 0, 17+len(canonical))
	msg = append(msg, keyID[:]...)
	msg = append(msg, byte(spec))
	return append(msg, canonical...)
}

// ErrKeyMaterial is returned by ImportKey for material that decrypted but
// is not a key of the spec: a symmetric key that is not 32 bytes, an HMAC
// key of the wrong length, a private key that does not parse or is of
// another type or size.
var ErrKeyMaterial = errors.New("hsm: imported key material does not fit the key spec")

// WrappingAlgorithm is how imported key material is encrypted to a
// wrapping key (AWS AlgorithmSpec).
type WrappingAlgorithm uint8

// Wrapping algorithms. The RSAES_OAEP ones encrypt the material itself
// with RSA-OAEP (the hash for OAEP and MGF1, an empty label). The
// RSA_AES_KEY_WRAP ones encrypt a fresh 256-bit AES key with RSA-OAEP and
// follow it with the material wrapped under that key by AES key wrap with
// padding (RFC 5649), as openssl's id-aes256-wrap-pad does: the form for
// material longer than RSA-OAEP can carry (RSA private keys).
const (
	RsaesOaepSHA1 WrappingAlgorithm = iota + 1
	RsaesOaepSHA256
	RsaAesKeyWrapSHA1
	RsaAesKeyWrapSHA256
)

var wrapAlgNames = [...]string{"", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"}

// String returns the AWS name of the algorithm.
func (a WrappingAlgorithm) String() string {
	if a > 0 && int(a) < len(wrapAlgNames) {
		return wrapAlgNames[a]
	}
	return "UNKNOWN"
}

// ParseWrappingAlgorithm returns the algorithm with AWS name name.
func ParseWrappingAlgorithm(name string) (WrappingAlgorithm, bool) {
	for i := 1; i < len(wrapAlgNames); i++ {
		if wrapAlgNames[i] == name {
			return WrappingAlgorithm(i), true
		}
	}
	return 0, false
}

// Hash returns the algorithm's OAEP hash.
func (a WrappingAlgorithm) Hash() crypto.Hash {
	switch a {
	case RsaesOaepSHA1, RsaAesKeyWrapSHA1:
		return crypto.SHA1
	case RsaesOaepSHA256, RsaAesKeyWrapSHA256:
		return crypto.SHA256
	}
	return 0
}

// KeyWrap reports whether the algorithm wraps the material with an AES
// key (RSA_AES_KEY_WRAP_*).
func (a WrappingAlgorithm) KeyWrap() bool { return a == RsaAesKeyWrapSHA1 || a == RsaAesKeyWrapSHA256 }

// HMACMaterialSize returns the lengths of HMAC key material a key of an
// HMAC spec accepts: generated material is as long as the digest (min);
// imported material may be up to the hash's block size (max), as AWS
// allows.
func (s KeySpec) HMACMaterialSize() (min, max int) {
	h := s.MACHash()
	if h == 0 {
		return 0, 0
	}
	return h.Size(), h.New().BlockSize()
}
