package soft

import (
	"bytes"
	"crypto/aes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"

	"github.com/trentkms/trent/hsm"
)

// EKT format v2, "key wrap plus a MAC tag", written by the pkcs11 backend
// on tokens that cannot unwrap with AES-GCM (SoftHSMv2), so that key
// material never leaves the token; this backend reads it, so clusters mix
// backends:
//
//	off len field
//	0   1   version = 0x02
//	1   1   spec (hsm.KeySpec)
//	2   16  domain key id
//	18  40  AES key wrap (RFC 3394) of the material under the wrap key
//	58  32  HMAC-SHA256 tag under the MAC key of bytes [0,58) || keyID || versionID
//
// wrap key = HKDF-Expand-SHA256(DK, "trent/ekt-wrap/v2", 32) and
// MAC key = HKDF-Expand-SHA256(DK, "trent/ekt-mac/v2", 32). RFC 3394 has
// no additional data: the tag binds the EKT to its ids, spec and domain
// key, and is checked before the unwrap.
const (
	ektWrapVersion = 0x02
	ektWrapLabel   = "trent/ekt-wrap/v2"
	ektMACLabel    = "trent/ekt-mac/v2"
	ektWrappedSize = keySize + 8
	ektWrapSize    = ektHeaderSize + ektWrappedSize + sha256.Size
)

// isWrappedEKT reports whether ekt claims format v2.
func isWrappedEKT(ekt []byte) bool { return len(ekt) > 0 && ekt[0] == ektWrapVersion }

// unwrapWrappedEKT opens an EKT v2 for ref under the domain key dk (id
// dkid). Every failure is hsm.ErrAuthentication. The caller clears the
// material.
func unwrapWrappedEKT(dk []byte, dkid [16]byte, ref *hsm.KeyRef) ([]byte, error) {
	e := ref.EKT
	if materialSize(ref.Spec) != keySize || len(e) != ektWrapSize ||
		e[1] != byte(ref.Spec) || !bytes.Equal(e[2:ektHeaderSize], dkid[:]) {
		return nil, hsm.ErrAuthentication
	}
	macKey, err := hkdf.Expand(sha256.New, dk, ektMACLabel, keySize)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	defer clear(macKey)
	body := e[:ektHeaderSize+ektWrappedSize]
	tag := MACWithKey(macKey, ektAAD(body, ref.KeyID, ref.VersionID))
	if !hmac.Equal(tag, e[len(body):]) {
		return nil, hsm.ErrAuthentication
	}
	wrapKey, err := hkdf.Expand(sha256.New, dk, ektWrapLabel, keySize)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	defer clear(wrapKey)
	m, ok := aesKeyUnwrap(wrapKey, e[ektHeaderSize:len(body)])
	if !ok {
		return nil, hsm.ErrAuthentication
	}
	return m, nil
}

// aesKeyDefaultIV is RFC 3394's initial value.
const aesKeyDefaultIV = 0xA6A6A6A6A6A6A6A6

// aesKeyUnwrap is RFC 3394 section 2.2.2 (index-based). The caller clears
// the result.
func aesKeyUnwrap(kek, c []byte) ([]byte, bool) {
	if len(c)%8 != 0 || len(c) < 24 {
		return nil, false
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, false
	}
	n := len(c)/8 - 1
	r := bytes.Clone(c[8:])
	a := binary.BigEndian.Uint64(c[:8])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			binary.BigEndian.PutUint64(b[:8], a^uint64(n*j+i))
			copy(b[8:], r[(i-1)*8:i*8])
			block.Decrypt(b[:], b[:])
			a = binary.BigEndian.Uint64(b[:8])
			copy(r[(i-1)*8:i*8], b[8:])
		}
	}
	clear(b[:])
	var iv, want [8]byte
	binary.BigEndian.PutUint64(iv[:], a)
	binary.BigEndian.PutUint64(want[:], aesKeyDefaultIV)
	if subtle.ConstantTimeCompare(iv[:], want[:]) != 1 {
		clear(r)
		return nil, false
	}
	return r, true
}
