//go:build pkcs11 && cgo

package pkcs11

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/miekg/pkcs11"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
)

// Importing key material (hsm.Importer), SymmetricDefault only, in soft's
// formats so that an import token made on either backend imports on the
// other. The RSA wrapping key is generated and used in Go and leaves the
// backend only as an EKT v1 under
//
//	wk = HKDF-Expand(DK, "trent/import/wrapping-key/v1", 32),
//
// derived in the token from the current key's trent/domain (one HMAC)
// and wiped after use. The imported material, which the RSA decryption
// puts in host memory, becomes a sensitive session key wrapped in the
// token as an EKT v2, like generated material, and is wiped.

// The PKCS#11 HSM imports key material.
var _ hsm.Importer = (*HSM)(nil)

const importWrapLabel = "trent/import/wrapping-key/v1"

// importWrapKey derives wk of the current domain key in the token; the
// caller wipes it.
func (h *HSM) importWrapKey(st *tokenState, s pkcs11.SessionHandle) ([]byte, error) {
	return h.sign(s, st.cur.domainWork, []byte(importWrapLabel+"\x01"))
}

// GenerateWrappingKey generates an RSA wrapping key pair for importing
// material into keyID (see [hsm.Importer]).
func (h *HSM) GenerateWrappingKey(ctx context.Context, spec hsm.KeySpec, keyID, wrapID [16]byte) (ekt, publicKey []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// Generating an RSA-4096 key takes a while: not holding a session.
	der, publicKey, err := soft.NewWrappingKey(rand.Reader, spec)
	if err != nil {
		return nil, nil, err
	}
	defer clear(der)
	err = h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.cur == nil {
			return ErrNoDomainKey
		}
		wk, err := h.importWrapKey(st, s)
		if err != nil {
			return err
		}
		defer clear(wk)
		ekt, err = soft.SealWrappingKey(wk, st.cur.dkid, spec, keyID, wrapID, der)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return ekt, publicKey, nil
}

// ImportKey decrypts imported SymmetricDefault material with a wrapping
// key and returns it as an EKT v2 (see [hsm.Importer]).
func (h *HSM) ImportKey(ctx context.Context, wrap hsm.KeyRef, alg hsm.WrappingAlgorithm, encrypted []byte, spec hsm.KeySpec, versionID [16]byte) (*hsm.Imported, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec != hsm.SymmetricDefault || alg.Hash() == 0 {
		return nil, fmt.Errorf("pkcs11: importing %v material with %v: %w", spec, alg, hsm.ErrUnsupported)
	}
	out := &hsm.Imported{}
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.cur == nil {
			return ErrNoDomainKey
		}
		wk, err := h.importWrapKey(st, s)
		if err != nil {
			return err
		}
		material, err := soft.OpenImported(wk, st.cur.dkid, wrap, alg, encrypted)
		clear(wk)
		if err != nil {
			return err
		}
		defer clear(material)
		if len(material) != keySize {
			return fmt.Errorf("pkcs11: imported %v material of %d bytes: %w", spec, len(material), hsm.ErrKeyMaterial)
		}
		// The fingerprint is the MAC under FingerprintLabel: keyed by the
		// MAC root, so it survives domain-key rotations.
		k, err := h.sign(s, st.root.domainWork, []byte(macLabel+"\x00"+hsm.FingerprintLabel+"\x01"))
		if err != nil {
			return err
		}
		out.Fingerprint = soft.MACWithKey(k, hsm.FingerprintInput(wrap.KeyID, spec, material))
		clear(k)
		h.objMu.Lock()
		defer h.objMu.Unlock()
		o, err := h.p.CreateObject(st.main, wrappableTemplate(material))
		if err != nil {
			return err
		}
		defer h.p.DestroyObject(st.main, o)
		out.EKT, err = h.wrapEKT(st, st.cur, o, spec, wrap.KeyID, versionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
