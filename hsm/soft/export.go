package soft

import (
	"crypto/hmac"
	"crypto/sha256"
)

// The message and MAC steps after key derivation, for other backends
// (pkcs11) that derive the keys elsewhere, in a token, and must produce
// the same bytes as this one.

// SealWithKey returns IV || AES-256-GCM(k, IV, aad, plaintext) || tag with
// a random IV: [HSM.Seal] once the per-message key k is derived.
func SealWithKey(k, aad, plaintext []byte) ([]byte, error) {
	return sealGCM(k, nil, aad, plaintext)
}

// OpenWithKey reverses [SealWithKey]. Every failure is
// [hsm.ErrAuthentication].
func OpenWithKey(k, aad, body []byte) ([]byte, error) {
	return openGCM(k, aad, body)
}

// MACWithKey returns HMAC-SHA256(k, msg): [HSM.MAC] once the label's
// subkey k is derived.
func MACWithKey(k, msg []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write(msg)
	return m.Sum(nil)
}
