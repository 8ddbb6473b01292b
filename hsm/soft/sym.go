package soft

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"io"

	"github.com/trentkms/trent/hsm"
)

// Sizes used throughout the package.
const (
	keySize = 32 // AES-256 keys, key material, domain keys
	ivSize  = 12 // GCM IVs
	tagSize = 16 // GCM tags
)

// symLabel starts the HKDF info of every per-message key.
const symLabel = "trent/sym/v1"

// messageKey derives the per-message key
//
//	K = HKDF-Expand-SHA256(material, "trent/sym/v1" || 0x00 || keyID || versionID || nonce, 32).
//
// The caller clears K.
func messageKey(material []byte, keyID, versionID, nonce [16]byte) ([]byte, error) {
	var info [len(symLabel) + 1 + 3*16]byte
	n := copy(info[:], symLabel)
	n++ // 0x00 separator
	n += copy(info[n:], keyID[:])
	n += copy(info[n:], versionID[:])
	copy(info[n:], nonce[:])
	return hkdf.Expand(sha256.New, material, string(info[:]), keySize)
}

// sealWith is the whole per-message encryption as a pure function of its
// inputs, so golden vectors can pin it: it derives K and returns
// iv || AES-256-GCM(K, iv, aad, plaintext) || tag.
func sealWith(material []byte, keyID, versionID, nonce [16]byte, iv [ivSize]byte, aad, plaintext []byte) ([]byte, error) {
	k, err := messageKey(material, keyID, versionID, nonce)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return sealGCMWithIV(k, iv, aad, plaintext)
}

// sealMessage is sealWith with a fresh random IV; see sealGCM for where the
// IV comes from.
func sealMessage(material []byte, keyID, versionID, nonce [16]byte, rand io.Reader, aad, plaintext []byte) ([]byte, error) {
	k, err := messageKey(material, keyID, versionID, nonce)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return sealGCM(k, rand, aad, plaintext)
}

// openWith reverses sealWith and sealMessage. Every failure is
// hsm.ErrAuthentication.
func openWith(material []byte, keyID, versionID, nonce [16]byte, aad, body []byte) ([]byte, error) {
	k, err := messageKey(material, keyID, versionID, nonce)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	defer clear(k)
	return openGCM(k, aad, body)
}

// sealGCMWithIV returns iv || AES-256-GCM(key, iv, aad, plaintext) || tag.
func sealGCMWithIV(key []byte, iv [ivSize]byte, aad, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	out := make([]byte, ivSize, ivSize+len(plaintext)+tagSize)
	copy(out, iv[:])
	return gcm.Seal(out, iv[:], plaintext, aad), nil
}

// sealGCM returns iv || AES-256-GCM(key, iv, aad, plaintext) || tag with a
// random IV. If rand is nil the IV comes from the Go cryptographic module's
// DRBG through cipher.NewGCMWithRandomNonce, the one GCM API allowed under
// GODEBUG=fips140=only; otherwise it is read from rand (tests).
func sealGCM(key []byte, rand io.Reader, aad, plaintext []byte) ([]byte, error) {
	if rand != nil {
		var iv [ivSize]byte
		if _, err := io.ReadFull(rand, iv[:]); err != nil {
			return nil, err
		}
		return sealGCMWithIV(key, iv, aad, plaintext)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return gcm.Seal(make([]byte, 0, ivSize+len(plaintext)+tagSize), nil, plaintext, aad), nil
}

// openGCM opens iv || ciphertext || tag. Every failure is
// hsm.ErrAuthentication.
func openGCM(key, aad, body []byte) ([]byte, error) {
	if len(body) < ivSize+tagSize {
		return nil, hsm.ErrAuthentication
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	pt, err := gcm.Open(nil, nil, body, aad)
	if err != nil {
		return nil, hsm.ErrAuthentication
	}
	return pt, nil
}
