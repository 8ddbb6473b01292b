package kms

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// FuzzVerifySignature feeds arbitrary public keys, algorithms, inputs and
// signatures to Verify's parser and checker: they never panic, and a
// signature verifies under the genuine key only for its own input.
func FuzzVerifySignature(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	d := sha256.Sum256([]byte("m"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	f.Add(der, byte(hsm.EcdsaSHA256), d[:], sig)
	f.Add(der[:len(der)-1], byte(hsm.EcdsaSHA256), d[:], sig)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, byte(hsm.RsaPssSHA256), d[:], []byte{})
	f.Fuzz(func(t *testing.T, pubDER []byte, alg byte, input, signature []byte) {
		pub, err := parsePublicKey(pubDER)
		if err != nil {
			return
		}
		ok := verifySignature(pub, hsm.SigningAlgorithm(alg), input, signature)
		if ok && string(pubDER) == string(der) && string(input) != string(d[:]) {
			t.Fatalf("a signature verified for another input")
		}
	})
}
