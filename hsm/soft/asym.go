package soft

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	_ "crypto/sha1" // OAEP with SHA-1 (RSAES_OAEP_SHA_1)
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keys"
)

// The soft HSM holds asymmetric and HMAC keys.
var (
	_ hsm.Signer   = (*HSM)(nil)
	_ hsm.KeyMACer = (*HSM)(nil)
)

// An asymmetric spec's material is its private key in PKCS#8 DER (ML-DSA
// in the seed form; see package keys).

// pairSpec reports whether the soft HSM generates key pairs of spec.
func pairSpec(spec hsm.KeySpec) bool {
	switch spec {
	case hsm.EccNistP256, hsm.EccNistP384, hsm.EccNistP521, hsm.EccSecgP256k1, hsm.EccNistEdwards25519,
		hsm.Rsa2048, hsm.Rsa3072, hsm.Rsa4096, hsm.MlDsa44, hsm.MlDsa65, hsm.MlDsa87:
		return true
	}
	return false
}

// newMaterial generates the material of spec: random bytes for symmetric
// and HMAC specs; for a key pair, its PKCS#8 encoding and the parsed key.
// h.mu is held.
func (h *HSM) newMaterial(spec hsm.KeySpec) (material []byte, private crypto.Signer, err error) {
	if n := materialSize(spec); n > 0 {
		material = make([]byte, n)
		if err := h.readRand(material); err != nil {
			return nil, nil, err
		}
		return material, nil, nil
	}
	r := h.conf.rand()
	switch spec {
	case hsm.EccNistP256:
		private, err = ecdsa.GenerateKey(elliptic.P256(), r)
	case hsm.EccNistP384:
		private, err = ecdsa.GenerateKey(elliptic.P384(), r)
	case hsm.EccNistP521:
		private, err = ecdsa.GenerateKey(elliptic.P521(), r)
	case hsm.EccSecgP256k1:
		private, err = keys.GenerateSecp256k1(r)
	case hsm.EccNistEdwards25519:
		_, private, err = ed25519.GenerateKey(r)
	case hsm.MlDsa44:
		private, err = keys.GenerateMLDSA(keys.MLDSA44, r)
	case hsm.MlDsa65:
		private, err = keys.GenerateMLDSA(keys.MLDSA65, r)
	case hsm.MlDsa87:
		private, err = keys.GenerateMLDSA(keys.MLDSA87, r)
	case hsm.Rsa2048:
		private, err = rsa.GenerateKey(r, 2048)
	case hsm.Rsa3072:
		private, err = rsa.GenerateKey(r, 3072)
	case hsm.Rsa4096:
		private, err = rsa.GenerateKey(r, 4096)
	default:
		return nil, nil, fmt.Errorf("soft: key spec %d: %w", spec, hsm.ErrUnsupported)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("soft: generating a %v key: %v", spec, err)
	}
	material, err = keys.MarshalPrivateKey(private)
	if err != nil {
		return nil, nil, err
	}
	if len(material) > maxPrivateKey {
		clear(material)
		return nil, nil, fmt.Errorf("soft: %v private key of %d bytes", spec, len(material))
	}
	return material, private, nil
}

// privateKey returns the private key of ref, from the cache or by
// unwrapping and parsing its EKT. EKT failures are hsm.ErrAuthentication.
func (h *HSM) privateKey(ref *hsm.KeyRef) (crypto.Signer, error) {
	if !pairSpec(ref.Spec) {
		return nil, fmt.Errorf("soft: %v is not a key pair: %w", ref.Spec, hsm.ErrUnsupported)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	if k, ok := h.cache.getPrivate(ref); ok {
		return k.(crypto.Signer), nil
	}
	gen := h.cache.generation()
	m, err := h.unwrapAny(ref)
	if err != nil {
		return nil, err
	}
	defer clear(m)
	k, err := parsePrivateKey(ref.Spec, m)
	if err != nil {
		// The EKT authenticated, so this is a backend bug, not a forgery.
		return nil, err
	}
	h.cache.putPrivateAt(ref, k, gen)
	return k, nil
}

// parsePrivateKey parses PKCS#8 material and checks it is a key of spec.
func parsePrivateKey(spec hsm.KeySpec, der []byte) (crypto.Signer, error) {
	k, err := keys.ParsePrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("soft: parsing a %v private key: %v", spec, err)
	}
	if keySpecOf(k.Public()) == spec {
		return k, nil
	}
	return nil, fmt.Errorf("soft: private key is not of spec %v", spec)
}

// keySpecOf returns the spec of a public key, 0 if none.
func keySpecOf(pub crypto.PublicKey) hsm.KeySpec {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return hsm.EccNistP256
		case elliptic.P384():
			return hsm.EccNistP384
		case elliptic.P521():
			return hsm.EccNistP521
		}
	case *secp256k1.PublicKey:
		return hsm.EccSecgP256k1
	case *keys.MLDSAPublicKey:
		switch k.Set {
		case keys.MLDSA44:
			return hsm.MlDsa44
		case keys.MLDSA65:
			return hsm.MlDsa65
		case keys.MLDSA87:
			return hsm.MlDsa87
		}
	case ed25519.PublicKey:
		return hsm.EccNistEdwards25519
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return hsm.Rsa2048
		case 3072:
			return hsm.Rsa3072
		case 4096:
			return hsm.Rsa4096
		}
	}
	return 0
}

// PublicKey returns the DER SubjectPublicKeyInfo of ref's key pair (see
// [hsm.Signer]).
func (h *HSM) PublicKey(ctx context.Context, ref hsm.KeyRef) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := h.privateKey(&ref)
	if err != nil {
		return nil, err
	}
	return keys.MarshalPublicKey(k.Public())
}

// Sign signs input (a digest; for Ed25519SHA512 and MlDsaShake256 the
// message; for MlDsaExternalMu μ) with ref's private key under alg (see
// [hsm.Signer]).
func (h *HSM) Sign(ctx context.Context, ref hsm.KeyRef, alg hsm.SigningAlgorithm, input []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !alg.Fits(ref.Spec) {
		return nil, fmt.Errorf("soft: %v with a %v key: %w", alg, ref.Spec, hsm.ErrUnsupported)
	}
	if alg == hsm.MlDsaExternalMu {
		return h.signMu(&ref, input)
	}
	if !alg.SignsMessage() && len(input) != alg.Hash().Size() {
		return nil, fmt.Errorf("soft: %v digest of %d bytes", alg, len(input))
	}
	k, err := h.privateKey(&ref)
	if err != nil {
		return nil, err
	}
	var opts crypto.SignerOpts = alg.Hash()
	switch {
	case alg.SignsMessage():
		opts = crypto.Hash(0)
	case alg == hsm.Ed25519phSHA512:
		opts = &ed25519.Options{Hash: crypto.SHA512}
	case alg.RSAPSS():
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.Hash()}
	}
	sig, err := k.Sign(h.conf.rand(), input, opts)
	if err != nil {
		return nil, fmt.Errorf("soft: %v: %v", alg, err)
	}
	return sig, nil
}

// signMu signs the message representative μ with ref's ML-DSA key.
func (h *HSM) signMu(ref *hsm.KeyRef, mu []byte) ([]byte, error) {
	k, err := h.privateKey(ref)
	if err != nil {
		return nil, err
	}
	mk, ok := k.(*keys.MLDSAPrivateKey)
	if !ok {
		return nil, fmt.Errorf("soft: %v with a %T: %w", hsm.MlDsaExternalMu, k, hsm.ErrUnsupported)
	}
	sig, err := mk.SignMu(mu)
	if err != nil {
		return nil, fmt.Errorf("soft: %v: %v", hsm.MlDsaExternalMu, err)
	}
	return sig, nil
}

// MACKey returns the HMAC of msg under ref's HMAC key (see [hsm.KeyMACer]).
func (h *HSM) MACKey(ctx context.Context, ref hsm.KeyRef, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !ref.Spec.HMAC() {
		return nil, fmt.Errorf("soft: MACKey with a %v key: %w", ref.Spec, hsm.ErrUnsupported)
	}
	m, err := h.material(&ref)
	if err != nil {
		return nil, err
	}
	defer clear(m)
	mac := hmac.New(ref.Spec.MACHash().New, m)
	mac.Write(msg)
	return mac.Sum(nil), nil
}

// The soft HSM decrypts with RSA keys.
var _ hsm.Decrypter = (*HSM)(nil)

// DecryptOAEP decrypts an RSAES-OAEP ciphertext with ref's RSA private key
// (see [hsm.Decrypter]).
func (h *HSM) DecryptOAEP(ctx context.Context, ref hsm.KeyRef, hash crypto.Hash, ciphertext []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case ref.Spec != hsm.Rsa2048 && ref.Spec != hsm.Rsa3072 && ref.Spec != hsm.Rsa4096:
		return nil, fmt.Errorf("soft: DecryptOAEP with a %v key: %w", ref.Spec, hsm.ErrUnsupported)
	case hash != crypto.SHA1 && hash != crypto.SHA256:
		return nil, fmt.Errorf("soft: DecryptOAEP with hash %v: %w", hash, hsm.ErrUnsupported)
	}
	k, err := h.privateKey(&ref)
	if err != nil {
		return nil, err
	}
	pt, err := rsa.DecryptOAEP(hash.New(), nil, k.(*rsa.PrivateKey), ciphertext, nil)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	return pt, nil
}

// The soft HSM derives ECDH shared secrets.
var _ hsm.KeyAgreer = (*HSM)(nil)

// ECDH derives the shared secret of ref's NIST ECC private key and peer
// (see [hsm.KeyAgreer]).
func (h *HSM) ECDH(ctx context.Context, ref hsm.KeyRef, peer []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var curve ecdh.Curve
	switch ref.Spec {
	case hsm.EccNistP256:
		curve = ecdh.P256()
	case hsm.EccNistP384:
		curve = ecdh.P384()
	case hsm.EccNistP521:
		curve = ecdh.P521()
	default:
		return nil, fmt.Errorf("soft: ECDH with a %v key: %w", ref.Spec, hsm.ErrUnsupported)
	}
	pub, err := curve.NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("soft: ECDH peer: %v", err)
	}
	k, err := h.privateKey(&ref)
	if err != nil {
		return nil, err
	}
	priv, err := k.(*ecdsa.PrivateKey).ECDH()
	if err != nil {
		return nil, fmt.Errorf("soft: ECDH key: %v", err)
	}
	return priv.ECDH(pub)
}
