package soft

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"io"

	"github.com/trentkms/trent/hsm"
)

// EKT format v1 (see the package documentation):
//
//	off len field
//	0   1   version = 0x01
//	1   1   spec (hsm.KeySpec)
//	2   16  domain key id
//	18  12  IV
//	30  n   AES-256-GCM ciphertext of the material (n = 32 for SymmetricDefault,
//	        the digest size for HMAC specs, up to the block size if imported, a PKCS#8 private key of at most
//	        4096 bytes for asymmetric specs)
//	30+n 16 tag
//
// The GCM key is HKDF-Expand-SHA256(DK, "trent/ekt/v1", 32) and the
// additional data is bytes [0,18) || keyID || versionID.
const (
	ektVersion    = 0x01
	ektHeaderSize = 2 + 16
	ektLabel      = "trent/ekt/v1"
)

// materialSize returns the length of a spec's key material, or 0 if the
// backend does not support the spec.
func materialSize(spec hsm.KeySpec) int {
	switch {
	case spec == hsm.SymmetricDefault:
		return keySize
	case spec.HMAC():
		return spec.MACHash().Size()
	default:
		return 0
	}
}

// maxPrivateKey bounds the material of an asymmetric spec: a PKCS#8
// private key, whose length varies (an RSA-4096 key is about 2.4 KB).
const maxPrivateKey = 4096

// supported reports whether the soft HSM generates keys of spec.
func supported(spec hsm.KeySpec) bool {
	return materialSize(spec) > 0 || pairSpec(spec)
}

// ektKeyFrom derives the EKT wrapping key from a domain key.
func ektKeyFrom(dk []byte) ([]byte, error) {
	return hkdf.Expand(sha256.New, dk, ektLabel, keySize)
}

// ektAAD returns the additional data of an EKT: its header followed by the
// key id and version id it belongs to.
func ektAAD(header []byte, keyID, versionID [16]byte) []byte {
	aad := make([]byte, 0, ektHeaderSize+32)
	aad = append(aad, header...)
	aad = append(aad, keyID[:]...)
	return append(aad, versionID[:]...)
}

// wrapEKT wraps material for (spec, keyID, versionID) under ektKey.
func wrapEKT(ektKey []byte, rand io.Reader, dkid [16]byte, spec hsm.KeySpec, keyID, versionID [16]byte, material []byte) ([]byte, error) {
	header := make([]byte, ektHeaderSize, ektHeaderSize+ivSize+len(material)+tagSize)
	header[0] = ektVersion
	header[1] = byte(spec)
	copy(header[2:], dkid[:])
	body, err := sealGCM(ektKey, rand, ektAAD(header, keyID, versionID), material)
	if err != nil {
		return nil, err
	}
	return append(header, body...), nil
}

// unwrapEKT opens ref.EKT under ektKey, checking that it was made for
// ref.Spec, ref.KeyID and ref.VersionID under the domain key dkid. Every
// failure is hsm.ErrAuthentication. The caller clears the material.
func unwrapEKT(ektKey []byte, dkid [16]byte, ref *hsm.KeyRef) ([]byte, error) {
	n := materialSize(ref.Spec)
	e := ref.EKT
	bodyOK := len(e) == ektHeaderSize+ivSize+n+tagSize
	if ref.Spec.HMAC() { // imported HMAC material may be longer than the digest
		bodyOK = materialFits(ref.Spec, len(e)-ektHeaderSize-ivSize-tagSize)
	}
	if n == 0 {
		bodyOK = pairSpec(ref.Spec) && len(e) > ektHeaderSize+ivSize+tagSize && len(e) <= ektHeaderSize+ivSize+maxPrivateKey+tagSize
	}
	if !bodyOK || e[0] != ektVersion || e[1] != byte(ref.Spec) || !bytes.Equal(e[2:18], dkid[:]) {
		return nil, hsm.ErrAuthentication
	}
	m, err := openGCM(ektKey, ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID), e[ektHeaderSize:])
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	if n > 0 && !materialFits(ref.Spec, len(m)) {
		clear(m)
		return nil, hsm.ErrAuthentication
	}
	return m, nil
}
