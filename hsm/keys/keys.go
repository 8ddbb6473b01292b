// Package keys encodes, parses and uses the key pairs of the specs Go's
// crypto/x509 does not know: ML-DSA (FIPS 204, with cloudflare/circl for
// messages and package mldsa for an external message representative μ)
// and ECDSA on secp256k1 (with decred's secp256k1).
//
// Public keys are DER SubjectPublicKeyInfo (RFC 5280): ML-DSA with the
// id-ml-dsa-44/65/87 OIDs and the raw public key (RFC 9881), secp256k1
// with id-ecPublicKey, the secp256k1 curve OID (1.3.132.0.10) and an SEC 1
// point (RFC 5480). Private keys are PKCS#8 (RFC 5958): ML-DSA in the
// 32-byte seed form, secp256k1 as an ECPrivateKey (RFC 5915).
// [ParsePublicKey], [ParsePrivateKey], [MarshalPublicKey] and
// [MarshalPrivateKey] take those and everything crypto/x509 takes, so a
// caller uses them for every spec.
package keys

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	dcrecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/trentkms/trent/hsm/keys/mldsa"
)

// MLDSA is an ML-DSA parameter set.
type MLDSA uint8

// The ML-DSA parameter sets.
const (
	MLDSA44 MLDSA = 44
	MLDSA65 MLDSA = 65
	MLDSA87 MLDSA = 87
)

// mldsaSet is what the package needs of one parameter set.
type mldsaSet struct {
	scheme sign.Scheme
	oid    asn1.ObjectIdentifier
	// signTo signs msg (pure ML-DSA, empty context, hedged) into sig.
	signTo func(sk sign.PrivateKey, msg, sig []byte) error
}

var mldsaSets = map[MLDSA]mldsaSet{
	MLDSA44: {mldsa44.Scheme(), asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa44.SignTo(sk.(*mldsa44.PrivateKey), msg, nil, true, sig)
	}},
	MLDSA65: {mldsa65.Scheme(), asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}, func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa65.SignTo(sk.(*mldsa65.PrivateKey), msg, nil, true, sig)
	}},
	MLDSA87: {mldsa87.Scheme(), asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}, func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa87.SignTo(sk.(*mldsa87.PrivateKey), msg, nil, true, sig)
	}},
}

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// MLDSASeedSize is the size of an ML-DSA private key's seed.
const MLDSASeedSize = 32

// MLDSAPublicKey is an ML-DSA public key.
type MLDSAPublicKey struct {
	Set MLDSA
	pk  sign.PublicKey
	raw []byte
	// expanded is the key for μ (package mldsa), made on first use.
	expanded func() (*mldsa.PublicKey, error)
}

func newMLDSAPublicKey(set MLDSA, pk sign.PublicKey, raw []byte) *MLDSAPublicKey {
	return &MLDSAPublicKey{Set: set, pk: pk, raw: raw, expanded: sync.OnceValues(func() (*mldsa.PublicKey, error) {
		return mldsa.NewPublicKey(mldsa.ParameterSet(set), raw)
	})}
}

// MLDSAMu returns the 64-byte message representative μ of msg under pure
// ML-DSA with an empty context, as a client computes it for AWS's
// MessageType EXTERNAL_MU.
func MLDSAMu(pub *MLDSAPublicKey, msg []byte) ([]byte, error) {
	if pub == nil || pub.expanded == nil {
		return nil, errors.New("keys: not a parsed ML-DSA public key")
	}
	pk, err := pub.expanded()
	if err != nil {
		return nil, err
	}
	return pk.Mu(msg, nil)
}

// VerifyMLDSAMu reports whether sig is pub's ML-DSA signature of the
// message representative μ: of whatever message μ was computed from.
func VerifyMLDSAMu(pub *MLDSAPublicKey, mu, sig []byte) bool {
	if pub == nil || pub.expanded == nil {
		return false
	}
	pk, err := pub.expanded()
	return err == nil && pk.VerifyMu(mu, sig)
}

// Bytes returns the encoded public key (FIPS 204 pkEncode).
func (k *MLDSAPublicKey) Bytes() []byte { return append([]byte(nil), k.raw...) }

// Equal reports whether x is the same public key.
func (k *MLDSAPublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*MLDSAPublicKey)
	return ok && o.Set == k.Set && string(o.raw) == string(k.raw)
}

// MLDSAPrivateKey is an ML-DSA private key and its seed. It is a
// crypto.Signer of pure ML-DSA with an empty context.
type MLDSAPrivateKey struct {
	pub  *MLDSAPublicKey
	seed [MLDSASeedSize]byte
	sk   sign.PrivateKey
	// expanded is the key for μ (package mldsa), made on first use.
	expanded func() (*mldsa.PrivateKey, error)
}

// NewMLDSAPrivateKey derives the key of set from its 32-byte seed.
func NewMLDSAPrivateKey(set MLDSA, seed []byte) (*MLDSAPrivateKey, error) {
	s, ok := mldsaSets[set]
	if !ok {
		return nil, fmt.Errorf("keys: ML-DSA parameter set %d", set)
	}
	if len(seed) != MLDSASeedSize {
		return nil, fmt.Errorf("keys: ML-DSA seed of %d bytes", len(seed))
	}
	pk, sk := s.scheme.DeriveKey(seed)
	raw, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	k := &MLDSAPrivateKey{pub: newMLDSAPublicKey(set, pk, raw), sk: sk}
	copy(k.seed[:], seed)
	k.expanded = sync.OnceValues(func() (*mldsa.PrivateKey, error) {
		sk, err := mldsa.NewPrivateKey(mldsa.ParameterSet(set), k.seed[:])
		if err != nil {
			return nil, err
		}
		// Both implementations must make the same key of the seed.
		if !bytes.Equal(sk.PublicKey(), raw) {
			return nil, errors.New("keys: the ML-DSA key for μ differs from circl's key of the same seed")
		}
		return sk, nil
	})
	return k, nil
}

// GenerateMLDSA generates a key of set from a seed read from rand.
func GenerateMLDSA(set MLDSA, rand io.Reader) (*MLDSAPrivateKey, error) {
	var seed [MLDSASeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	return NewMLDSAPrivateKey(set, seed[:])
}

// Public returns the key's *MLDSAPublicKey.
func (k *MLDSAPrivateKey) Public() crypto.PublicKey { return k.pub }

// Sign signs msg, the message itself, with pure hedged ML-DSA and an empty
// context (FIPS 204 ML-DSA.Sign); the hedging randomness comes from
// crypto/rand, not from rand. opts must not name a hash.
func (k *MLDSAPrivateKey) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, errors.New("keys: ML-DSA signs the message, not a digest")
	}
	sig := make([]byte, k.sk.Scheme().SignatureSize())
	if err := mldsaSets[k.pub.Set].signTo(k.sk, msg, sig); err != nil {
		return nil, err
	}
	return sig, nil
}

// SignMu signs the 64-byte message representative μ with hedged ML-DSA
// (ExternalMu-ML-DSA.Sign): the signature is the key's pure ML-DSA
// signature of the message μ was computed from. The hedging randomness
// comes from crypto/rand.
func (k *MLDSAPrivateKey) SignMu(mu []byte) ([]byte, error) {
	sk, err := k.expanded()
	if err != nil {
		return nil, err
	}
	rnd := make([]byte, 32)
	defer clear(rnd)
	if _, err := rand.Read(rnd); err != nil {
		return nil, err
	}
	return sk.SignMu(mu, rnd)
}

// VerifyMLDSA reports whether sig is pub's ML-DSA signature of msg with
// an empty context.
func VerifyMLDSA(pub *MLDSAPublicKey, msg, sig []byte) bool {
	return pub.pk.Scheme().Verify(pub.pk, msg, sig, nil)
}

// Secp256k1PrivateKey is an ECDSA private key on secp256k1, a
// crypto.Signer of SHA-256 digests.
type Secp256k1PrivateKey struct {
	k *secp256k1.PrivateKey
}

// GenerateSecp256k1 generates a secp256k1 key from rand.
func GenerateSecp256k1(rand io.Reader) (*Secp256k1PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKeyFromRand(rand)
	if err != nil {
		return nil, err
	}
	return &Secp256k1PrivateKey{k}, nil
}

// Public returns the key's *secp256k1.PublicKey.
func (k *Secp256k1PrivateKey) Public() crypto.PublicKey { return k.k.PubKey() }

// Sign returns the ASN.1 DER ECDSA signature (RFC 3279) of a 32-byte
// digest, with an RFC 6979 nonce and a low S. rand is not used.
func (k *Secp256k1PrivateKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if len(digest) != 32 || opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, errors.New("keys: secp256k1 signs SHA-256 digests")
	}
	return dcrecdsa.Sign(k.k, digest).Serialize(), nil
}

// VerifySecp256k1 reports whether sig, an ASN.1 DER ECDSA signature, is
// pub's signature of digest. A high S is accepted, as Go's ecdsa does.
func VerifySecp256k1(pub *secp256k1.PublicKey, digest, sig []byte) bool {
	var r, s big.Int
	in, inner := cryptobyte.String(sig), cryptobyte.String(nil)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() {
		return false
	}
	var rs, ss secp256k1.ModNScalar
	if !scalar(&rs, &r) || !scalar(&ss, &s) {
		return false
	}
	return dcrecdsa.NewSignature(&rs, &ss).Verify(digest, pub)
}

// scalar sets m to v if 0 < v < N.
func scalar(m *secp256k1.ModNScalar, v *big.Int) bool {
	if v.Sign() <= 0 || v.BitLen() > 256 {
		return false
	}
	var b [32]byte
	return !m.SetByteSlice(v.FillBytes(b[:])) && !m.IsZero()
}
