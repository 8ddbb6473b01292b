// Package keywrap is AES key wrap with padding (RFC 5649), the AES half of
// AWS KMS's RSA_AES_KEY_WRAP wrapping algorithms and of openssl's
// id-aes256-wrap-pad cipher: the soft HSM unwraps imported key material
// with it, and tests and clients wrap with it.
package keywrap

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// ErrUnwrap is returned by Unwrap for every failure: a wrong key, a
// flipped bit, a length that is not a wrapping's.
var ErrUnwrap = errors.New("keywrap: integrity check failed")

// aiv is the high half of RFC 5649's alternative initial value; the low
// half is the plaintext's length.
var aiv = [4]byte{0xa6, 0x59, 0x59, 0xa6}

// Wrap wraps plaintext (1 byte or more) under kek, an AES key of 16, 24
// or 32 bytes, and returns the wrapping, 8 to 15 bytes longer.
func Wrap(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 || uint64(len(plaintext)) > 1<<32-1 {
		return nil, errors.New("keywrap: plaintext length out of range")
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := (len(plaintext) + 7) / 8 // 64-bit blocks of the padded plaintext
	out := make([]byte, 8+8*n)
	copy(out[:4], aiv[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(plaintext)))
	copy(out[8:], plaintext)
	if n == 1 {
		b.Encrypt(out, out)
		return out, nil
	}
	var buf [16]byte
	a := out[:8]
	for j := range 6 {
		for i := 1; i <= n; i++ {
			r := out[8*i : 8*i+8]
			copy(buf[:8], a)
			copy(buf[8:], r)
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(buf[:8])^t)
			copy(r, buf[8:])
		}
	}
	return out, nil
}

// Unwrap reverses Wrap. Every failure is ErrUnwrap.
func Unwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, ErrUnwrap
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped))
	copy(out, wrapped)
	if n == 1 {
		b.Decrypt(out, out)
	} else {
		var buf [16]byte
		a := out[:8]
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				r := out[8*i : 8*i+8]
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a)^t)
				copy(buf[8:], r)
				b.Decrypt(buf[:], buf[:])
				copy(a, buf[:8])
				copy(r, buf[8:])
			}
		}
	}
	// The check: the AIV, a length that fits n blocks, zero padding.
	mli := int(binary.BigEndian.Uint32(out[4:8]))
	ok := subtle.ConstantTimeCompare(out[:4], aiv[:])
	if mli <= 8*(n-1) || mli > 8*n {
		ok = 0
		mli = 8 * n
	}
	var pad byte
	for _, c := range out[8+mli:] {
		pad |= c
	}
	if ok&subtle.ConstantTimeByteEq(pad, 0) != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	return out[8 : 8+mli], nil
}
