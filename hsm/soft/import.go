package soft

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
)

// The soft HSM imports key material.
var _ hsm.Importer = (*HSM)(nil)

// importWrapLabel derives the key under which wrapping private keys are
// EKTs (format v1, spec the RSA spec, ids the KMS key id and the wrapping
// key id). It is not the EKT key, so a wrapping key's EKT never opens as
// key material, nor key material's EKT as a wrapping key.
const importWrapLabel = "trent/import/wrapping-key/v1"

// importWrapKey returns the wrapping-key EKT key. h.mu is held and h usable.
func (h *HSM) importWrapKey() ([]byte, error) {
	return hkdf.Expand(sha256.New, h.dk, importWrapLabel, keySize)
}

func rsaBits(spec hsm.KeySpec) int {
	switch spec {
	case hsm.Rsa2048:
		return 2048
	case hsm.Rsa3072:
		return 3072
	case hsm.Rsa4096:
		return 4096
	}
	return 0
}

// GenerateWrappingKey generates an RSA wrapping key pair for importing
// material into keyID (see [hsm.Importer]).
func (h *HSM) GenerateWrappingKey(ctx context.Context, spec hsm.KeySpec, keyID, wrapID [16]byte) (ekt, publicKey []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	defer func(start time.Time) { h.conf.done("GenerateWrappingKey", start, err) }(h.conf.start())
	if rsaBits(spec) == 0 {
		return nil, nil, fmt.Errorf("soft: wrapping key spec %v: %w", spec, hsm.ErrUnsupported)
	}
	h.mu.RLock()
	err = h.usable()
	h.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	// Generating an RSA-4096 key takes a while: not under h.mu.
	der, publicKey, err := NewWrappingKey(h.conf.rand(), spec)
	if err != nil {
		return nil, nil, err
	}
	defer clear(der)
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, nil, err
	}
	wk, err := h.importWrapKey()
	if err != nil {
		return nil, nil, err
	}
	defer clear(wk)
	if ekt, err = wrapEKT(wk, h.rand, h.dkid, spec, keyID, wrapID, der); err != nil {
		return nil, nil, err
	}
	return ekt, publicKey, nil
}

// NewWrappingKey generates an RSA wrapping key pair of spec (Rsa2048,
// Rsa3072 or Rsa4096) and returns its private key as PKCS#8 DER, which
// the caller wipes, and its public key as a DER SubjectPublicKeyInfo.
// Other backends (pkcs11) seal the private key with [SealWrappingKey].
func NewWrappingKey(rand io.Reader, spec hsm.KeySpec) (der, publicKey []byte, err error) {
	bits := rsaBits(spec)
	if bits == 0 {
		return nil, nil, fmt.Errorf("soft: wrapping key spec %v: %w", spec, hsm.ErrUnsupported)
	}
	k, err := rsa.GenerateKey(rand, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("soft: generating a wrapping key: %v", err)
	}
	if publicKey, err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
		return nil, nil, err
	}
	if der, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		return nil, nil, err
	}
	return der, publicKey, nil
}

// SealWrappingKey returns the EKT of a wrapping private key (PKCS#8 DER)
// for keyID and wrapID under wk = HKDF-Expand(DK, importWrapLabel, 32) of
// the domain key dkid, as [HSM.GenerateWrappingKey] makes it, so that a
// wrapping key another backend (pkcs11) made opens on a soft HSM and the
// other way round.
func SealWrappingKey(wk []byte, dkid [16]byte, spec hsm.KeySpec, keyID, wrapID [16]byte, der []byte) ([]byte, error) {
	return wrapEKT(wk, rand.Reader, dkid, spec, keyID, wrapID, der)
}

// OpenImported opens the wrapping key wrap under wk (see
// [SealWrappingKey]) and decrypts encrypted, material wrapped to it
// under alg, as [HSM.ImportKey] does before it checks the material; the
// caller wipes it. Every failure is [hsm.ErrAuthentication].
func OpenImported(wk []byte, dkid [16]byte, wrap hsm.KeyRef, alg hsm.WrappingAlgorithm, encrypted []byte) ([]byte, error) {
	if rsaBits(wrap.Spec) == 0 || alg.Hash() == 0 {
		return nil, hsm.ErrAuthentication
	}
	der, err := unwrapEKT(wk, dkid, &wrap)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	priv, err := parsePrivateKey(wrap.Spec, der)
	if err != nil {
		return nil, hsm.ErrAuthentication // the EKT authenticated: not reached
	}
	return unwrapImported(priv.(*rsa.PrivateKey), alg, encrypted)
}

// ImportKey decrypts imported material with a wrapping key and returns it
// as an EKT (see [hsm.Importer]).
func (h *HSM) ImportKey(ctx context.Context, wrap hsm.KeyRef, alg hsm.WrappingAlgorithm, encrypted []byte, spec hsm.KeySpec, versionID [16]byte) (_ *hsm.Imported, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func(start time.Time) { h.conf.done("ImportKey", start, err) }(h.conf.start())
	if rsaBits(wrap.Spec) == 0 || alg.Hash() == 0 || !supported(spec) {
		return nil, fmt.Errorf("soft: importing %v material with a %v wrapping key and %v: %w", spec, wrap.Spec, alg, hsm.ErrUnsupported)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	wk, err := h.importWrapKey()
	if err != nil {
		return nil, err
	}
	defer clear(wk)
	material, err := OpenImported(wk, h.dkid, wrap, alg, encrypted)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	out := &hsm.Imported{}
	canonical := material
	if pairSpec(spec) {
		k, err := parsePrivateKey(spec, material)
		if err != nil {
			return nil, fmt.Errorf("soft: imported %v key: %w", spec, hsm.ErrKeyMaterial)
		}
		// Store the key as this backend encodes it, whatever the client's
		// encoder added (attributes, an optional public key).
		if material, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
			return nil, err
		}
		defer clear(material)
		if len(material) > maxPrivateKey {
			return nil, fmt.Errorf("soft: imported %v key of %d bytes: %w", spec, len(material), hsm.ErrKeyMaterial)
		}
		if out.PublicKey, err = x509.MarshalPKIXPublicKey(k.Public()); err != nil {
			return nil, err
		}
		canonical = out.PublicKey
	} else if !materialFits(spec, len(material)) {
		return nil, fmt.Errorf("soft: imported %v material of %d bytes: %w", spec, len(material), hsm.ErrKeyMaterial)
	}
	keyID := wrap.KeyID
	if out.EKT, err = wrapEKT(h.ektKey, h.rand, h.dkid, spec, keyID, versionID, material); err != nil {
		return nil, err
	}
	// The fingerprint is MAC(FingerprintLabel, ...): keyed by the MAC root,
	// so it survives domain-key rotations.
	mk, err := hkdf.Expand(sha256.New, h.macRootLocked(), macLabel+"\x00"+hsm.FingerprintLabel, keySize)
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	out.Fingerprint = MACWithKey(mk, hsm.FingerprintInput(keyID, spec, canonical))
	return out, nil
}

// unwrapImported decrypts material encrypted to priv under alg. Every
// failure is hsm.ErrAuthentication.
func unwrapImported(priv *rsa.PrivateKey, alg hsm.WrappingAlgorithm, encrypted []byte) ([]byte, error) {
	if !alg.KeyWrap() {
		m, err := rsa.DecryptOAEP(alg.Hash().New(), nil, priv, encrypted, nil)
		if err != nil {
			return nil, hsm.ErrAuthentication
		}
		return m, nil
	}
	n := priv.Size()
	if len(encrypted) <= n {
		return nil, hsm.ErrAuthentication
	}
	kek, err := rsa.DecryptOAEP(alg.Hash().New(), nil, priv, encrypted[:n], nil)
	if err != nil || len(kek) != keySize {
		clear(kek)
		return nil, hsm.ErrAuthentication
	}
	defer clear(kek)
	m, err := keywrap.Unwrap(kek, encrypted[n:])
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	return m, nil
}

// materialFits reports whether n bytes are material of a symmetric or
// HMAC spec: 32 bytes, or for HMAC from the digest size to the block size.
func materialFits(spec hsm.KeySpec, n int) bool {
	if spec.HMAC() {
		lo, hi := spec.HMACMaterialSize()
		return n >= lo && n <= hi
	}
	return n == materialSize(spec)
}
