package soft

import (
	"context"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
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
	bits := rsaBits(spec)
	if bits == 0 {
		return nil, nil, fmt.Errorf("soft: wrapping key spec %v: %w", spec, hsm.ErrUnsupported)
	}
	h.mu.RLock()
	err = h.usable()
	h.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	// Generating an RSA-4096 key takes a while: not under h.mu.
	k, err := rsa.GenerateKey(h.conf.rand(), bits)
	if err != nil {
		return nil, nil, fmt.Errorf("soft: generating a wrapping key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	defer clear(der)
	if publicKey, err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
		return nil, nil, err
	}
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
	der, err := unwrapEKT(wk, h.dkid, &wrap)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	priv, err := parsePrivateKey(wrap.Spec, der)
	if err != nil {
		return nil, hsm.ErrAuthentication // the EKT authenticated: not reached
	}
	material, err := unwrapImported(priv.(*rsa.PrivateKey), alg, encrypted)
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
