package kms

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keys"
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
	k1, _ := keys.GenerateSecp256k1(rand.Reader)
	k1DER, _ := keys.MarshalPublicKey(k1.Public())
	k1Sig, _ := k1.Sign(nil, d[:], crypto.SHA256)
	f.Add(k1DER, byte(hsm.EcdsaSHA256), d[:], k1Sig)
	ml, _ := keys.GenerateMLDSA(keys.MLDSA44, rand.Reader)
	mlDER, _ := keys.MarshalPublicKey(ml.Public())
	mlSig, _ := ml.Sign(nil, []byte("m"), crypto.Hash(0))
	f.Add(mlDER, byte(hsm.MlDsaShake256), []byte("m"), mlSig)
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

// FuzzPeerPoint feeds arbitrary DeriveSharedSecret public keys to its
// parser: it never panics, and what it accepts is a point crypto/ecdh
// takes on the key's curve.
func FuzzPeerPoint(f *testing.F) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		f.Add(der, byte(c.Params().BitSize))
		f.Add(der[:len(der)-2], byte(c.Params().BitSize))
	}
	k1, _ := keys.GenerateSecp256k1(rand.Reader)
	k1DER, _ := keys.MarshalPublicKey(k1.Public())
	f.Add(k1DER, byte(0))
	f.Fuzz(func(t *testing.T, der []byte, which byte) {
		spec := [...]string{"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"}[int(which)%3]
		curve := curveOf[spec]
		p, err := peerPoint(der, curve, spec)
		if err != nil {
			return
		}
		switch spec {
		case "ECC_NIST_P256":
			_, err = ecdh.P256().NewPublicKey(p)
		case "ECC_NIST_P384":
			_, err = ecdh.P384().NewPublicKey(p)
		default:
			_, err = ecdh.P521().NewPublicKey(p)
		}
		if err != nil {
			t.Fatalf("peerPoint accepted a point crypto/ecdh refuses: %v", err)
		}
	})
}
