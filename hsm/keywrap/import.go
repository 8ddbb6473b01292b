package keywrap

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"

	"github.com/trentkms/trent/hsm"
)

// ForImport does what a client of GetParametersForImport does with its
// PublicKey (a DER SubjectPublicKeyInfo of an RSA key): it encrypts key
// material under alg for ImportKeyMaterial. RSAES_OAEP encrypts the
// material with RSA-OAEP; RSA_AES_KEY_WRAP encrypts a fresh AES-256 key
// from random with RSA-OAEP and appends the material wrapped under it.
func ForImport(random io.Reader, publicKey []byte, alg hsm.WrappingAlgorithm, material []byte) ([]byte, error) {
	k, err := x509.ParsePKIXPublicKey(publicKey)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok || alg.Hash() == 0 {
		return nil, errors.New("keywrap: not an RSA wrapping key or algorithm")
	}
	if !alg.KeyWrap() {
		return rsa.EncryptOAEP(alg.Hash().New(), random, pub, material, nil)
	}
	kek := make([]byte, 32)
	defer clear(kek)
	if _, err := io.ReadFull(random, kek); err != nil {
		return nil, err
	}
	head, err := rsa.EncryptOAEP(alg.Hash().New(), random, pub, kek, nil)
	if err != nil {
		return nil, err
	}
	tail, err := Wrap(kek, material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}
