package hsm

import (
	"context"
	"crypto"
)

// Signer is the part of a backend that holds asymmetric keys: a backend
// whose [Capabilities] list an asymmetric spec (see [KeySpec.Asymmetric])
// implements it. GenerateKey makes the key pair inside the backend and
// returns the private key wrapped as an EKT, like any material; the
// public key leaves the backend through PublicKey, once, when the key is
// created, and is then public state (the service verifies with it
// without the backend). A backend without asymmetric keys does not
// implement Signer and lists no asymmetric spec.
type Signer interface {
	// PublicKey returns the public key of ref's key pair as a DER
	// SubjectPublicKeyInfo (RFC 5280). An EKT that does not authenticate
	// for ref gives [ErrAuthentication].
	PublicKey(ctx context.Context, ref KeyRef) ([]byte, error)
	// Sign signs input with ref's private key under alg: input is the
	// digest of the message under alg's hash ([SigningAlgorithm.Hash]),
	// except for the algorithms that sign the message itself
	// ([SigningAlgorithm.SignsMessage]): [Ed25519SHA512] and [MlDsaShake256]
	// (pure, hedged ML-DSA with an empty context), and for
	// [MlDsaExternalMu] the 64-byte message representative μ. ECDSA
	// signatures are ASN.1 DER (RFC 3279); RSA-PSS salts are as long as
	// the hash. An algorithm of another key type than ref.Spec gives
	// [ErrUnsupported]; a digest of the wrong length is an error; an EKT
	// that does not authenticate gives [ErrAuthentication].
	Sign(ctx context.Context, ref KeyRef, alg SigningAlgorithm, input []byte) ([]byte, error)
}

// Decrypter is the part of a backend that decrypts with RSA keys of
// usage ENCRYPT_DECRYPT. A backend implements it, or not, for all its RSA
// specs; one that does not still signs with them if it is a [Signer].
type Decrypter interface {
	// DecryptOAEP decrypts an RSAES-OAEP ciphertext made with ref's public
	// key, hash (SHA-1 or SHA-256) for both OAEP and MGF1, and an empty
	// label. Every failure to decrypt, and an EKT that does not
	// authenticate for ref, is [ErrAuthentication].
	DecryptOAEP(ctx context.Context, ref KeyRef, hash crypto.Hash, ciphertext []byte) ([]byte, error)
}

// KeyAgreer is the part of a backend that derives ECDH shared secrets
// with NIST ECC keys of usage KEY_AGREEMENT.
type KeyAgreer interface {
	// ECDH returns the raw ECDH shared secret (the x-coordinate, as
	// crypto/ecdh and PKCS#11's CKM_ECDH1_DERIVE without a KDF give it) of
	// ref's private key and peer, an uncompressed point (SEC 1) on the
	// curve of ref.Spec. A point not on that curve is an error; an EKT that
	// does not authenticate gives [ErrAuthentication].
	ECDH(ctx context.Context, ref KeyRef, peer []byte) ([]byte, error)
}

// KeyMACer is the part of a backend that holds HMAC keys: a backend whose
// [Capabilities] list an HMAC spec (see [KeySpec.HMAC]) implements it.
type KeyMACer interface {
	// MACKey returns HMAC(key, msg) with ref's key and the hash of its
	// spec (SHA-224 for [Hmac224], ... SHA-512 for [Hmac512]). An EKT
	// that does not authenticate for ref gives [ErrAuthentication].
	MACKey(ctx context.Context, ref KeyRef, msg []byte) ([]byte, error)
}

// SigningAlgorithm is a signature scheme and hash (AWS
// SigningAlgorithmSpec).
type SigningAlgorithm uint8

// Signing algorithms.
const (
	EcdsaSHA256 SigningAlgorithm = iota + 1
	EcdsaSHA384
	EcdsaSHA512
	RsaPssSHA256
	RsaPssSHA384
	RsaPssSHA512
	RsaPkcs1SHA256
	RsaPkcs1SHA384
	RsaPkcs1SHA512
	// Ed25519SHA512 is pure Ed25519 (RFC 8032): it signs the message.
	Ed25519SHA512
	// Ed25519phSHA512 is Ed25519ph: it signs the SHA-512 digest of the
	// message.
	Ed25519phSHA512
	// MlDsaShake256 is ML-DSA (FIPS 204): it signs the message, with the
	// SHAKE256 message representative inside the algorithm.
	MlDsaShake256
	// MlDsaExternalMu is ML_DSA_SHAKE_256 with AWS's MessageType
	// EXTERNAL_MU: it signs a 64-byte message representative μ =
	// SHAKE256(SHAKE256(pk, 64) || M′, 64) that the caller computed, and
	// the signature is the same as ML-DSA's of the message M. It has no
	// AWS name of its own: String gives ML_DSA_SHAKE_256.
	MlDsaExternalMu
)

var algNames = [...]string{"", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512",
	"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
	"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
	"ED25519_SHA_512", "ED25519_PH_SHA_512", "ML_DSA_SHAKE_256", "ML_DSA_SHAKE_256"}

// String returns the AWS name of the algorithm.
func (a SigningAlgorithm) String() string {
	if int(a) < len(algNames) && a > 0 {
		return algNames[a]
	}
	return "UNKNOWN"
}

// ParseSigningAlgorithm returns the algorithm with AWS name name
// (MlDsaShake256 for ML_DSA_SHAKE_256: the message type picks
// MlDsaExternalMu).
func ParseSigningAlgorithm(name string) (SigningAlgorithm, bool) {
	for i := 1; i <= int(MlDsaShake256); i++ {
		if algNames[i] == name {
			return SigningAlgorithm(i), true
		}
	}
	return 0, false
}

// Hash returns the algorithm's hash; 0 for [MlDsaShake256] and
// [MlDsaExternalMu], whose SHAKE256 is part of the algorithm.
func (a SigningAlgorithm) Hash() crypto.Hash {
	switch a {
	case EcdsaSHA256, RsaPssSHA256, RsaPkcs1SHA256:
		return crypto.SHA256
	case EcdsaSHA384, RsaPssSHA384, RsaPkcs1SHA384:
		return crypto.SHA384
	case EcdsaSHA512, RsaPssSHA512, RsaPkcs1SHA512, Ed25519SHA512, Ed25519phSHA512:
		return crypto.SHA512
	}
	return 0
}

// ECDSA, RSAPSS, RSAPKCS1 and Ed25519 report the algorithm's scheme.
func (a SigningAlgorithm) ECDSA() bool    { return a >= EcdsaSHA256 && a <= EcdsaSHA512 }
func (a SigningAlgorithm) RSAPSS() bool   { return a >= RsaPssSHA256 && a <= RsaPssSHA512 }
func (a SigningAlgorithm) RSAPKCS1() bool { return a >= RsaPkcs1SHA256 && a <= RsaPkcs1SHA512 }
func (a SigningAlgorithm) Ed25519() bool  { return a == Ed25519SHA512 || a == Ed25519phSHA512 }

// SignsMessage reports whether the algorithm signs the message itself,
// not its digest under [SigningAlgorithm.Hash].
func (a SigningAlgorithm) SignsMessage() bool { return a == Ed25519SHA512 || a == MlDsaShake256 }

// Fits reports whether the algorithm is of the scheme of spec's keys.
func (a SigningAlgorithm) Fits(spec KeySpec) bool {
	switch spec {
	case EccNistP256, EccNistP384, EccNistP521, EccSecgP256k1:
		return a.ECDSA()
	case Rsa2048, Rsa3072, Rsa4096:
		return a.RSAPSS() || a.RSAPKCS1()
	case EccNistEdwards25519:
		return a.Ed25519()
	case MlDsa44, MlDsa65, MlDsa87:
		return a == MlDsaShake256 || a == MlDsaExternalMu
	}
	return false
}

// MACHash returns the hash of an HMAC spec, 0 for others.
func (s KeySpec) MACHash() crypto.Hash {
	switch s {
	case Hmac224:
		return crypto.SHA224
	case Hmac256:
		return crypto.SHA256
	case Hmac384:
		return crypto.SHA384
	case Hmac512:
		return crypto.SHA512
	}
	return 0
}
