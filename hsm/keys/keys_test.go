package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	dcrecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/trentkms/trent/hsm/keys"
)

// spki is a SubjectPublicKeyInfo as RFC 5280 defines it, parsed with
// encoding/asn1 independently of the package.
type spki struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	PublicKey asn1.BitString
}

// publicSPKI returns the SubjectPublicKeyInfo of a key just generated
// (with err) and its parse.
func publicSPKI(t *testing.T, k crypto.Signer, err error) ([]byte, spki) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	der, err := keys.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	var s spki
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 {
		t.Fatalf("not a SubjectPublicKeyInfo: %v (%d trailing bytes)", err, len(rest))
	}
	return der, s
}

// Known answers for ML-DSA: the SPKI carries the standard OID and no
// parameters, circl verifies the package's signatures from the SPKI's raw
// key, and the package verifies circl's; the PKCS#8 round-trips to the
// same key.
func TestMLDSAKnownAnswer(t *testing.T) {
	msg := []byte("message")
	for _, c := range []struct {
		set    keys.MLDSA
		oid    string
		scheme sign.Scheme
	}{
		{keys.MLDSA44, "2.16.840.1.101.3.4.3.17", mldsa44.Scheme()},
		{keys.MLDSA65, "2.16.840.1.101.3.4.3.18", mldsa65.Scheme()},
		{keys.MLDSA87, "2.16.840.1.101.3.4.3.19", mldsa87.Scheme()},
	} {
		t.Run(c.oid, func(t *testing.T) {
			k, err := keys.GenerateMLDSA(c.set, rand.Reader)
			der, s := publicSPKI(t, k, err)
			if s.Algorithm.Algorithm.String() != c.oid || len(s.Algorithm.Parameters.FullBytes) != 0 {
				t.Fatalf("AlgorithmIdentifier = %v %x", s.Algorithm.Algorithm, s.Algorithm.Parameters.FullBytes)
			}
			sig, err := k.Sign(nil, msg, crypto.Hash(0))
			if err != nil {
				t.Fatal(err)
			}
			circlPub, err := c.scheme.UnmarshalBinaryPublicKey(s.PublicKey.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !c.scheme.Verify(circlPub, msg, sig, nil) {
				t.Fatal("circl does not verify the signature")
			}
			if _, err := k.Sign(nil, msg, crypto.SHA256); err == nil {
				t.Fatal("Sign of a digest succeeded")
			}
			pub, err := keys.ParsePublicKey(der)
			if err != nil || !pub.(*keys.MLDSAPublicKey).Equal(k.Public()) {
				t.Fatalf("ParsePublicKey = %v, %v", pub, err)
			}
			if keys.VerifyMLDSA(pub.(*keys.MLDSAPublicKey), []byte("other"), sig) {
				t.Fatal("the signature verifies another message")
			}

			var seed [32]byte
			rand.Read(seed[:])
			cpk, csk := c.scheme.DeriveKey(seed[:])
			raw, _ := cpk.MarshalBinary()
			csig := c.scheme.Sign(csk, msg, nil)
			k2, err := keys.NewMLDSAPrivateKey(c.set, seed[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k2.Public().(*keys.MLDSAPublicKey).Bytes(), raw) {
				t.Fatal("the key derived from a seed differs from circl's")
			}
			if !keys.VerifyMLDSA(k2.Public().(*keys.MLDSAPublicKey), msg, csig) {
				t.Fatal("VerifyMLDSA refuses circl's signature")
			}

			p8, err := keys.MarshalPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := keys.ParsePrivateKey(p8)
			if err != nil || !back.Public().(*keys.MLDSAPublicKey).Equal(k.Public()) {
				t.Fatalf("ParsePrivateKey = %v, %v", back, err)
			}
		})
	}
}

// Known answers for secp256k1: the SPKI is id-ecPublicKey with the
// secp256k1 curve OID and a 65-byte point; decred's library verifies the
// package's signatures and the package verifies decred's, with a high S
// too; other digests and garbage are refused.
func TestSecp256k1KnownAnswer(t *testing.T) {
	k, err := keys.GenerateSecp256k1(rand.Reader)
	der, s := publicSPKI(t, k, err)
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(s.Algorithm.Parameters.FullBytes, &curve); err != nil ||
		s.Algorithm.Algorithm.String() != "1.2.840.10045.2.1" || curve.String() != "1.3.132.0.10" || len(s.PublicKey.Bytes) != 65 {
		t.Fatalf("SPKI = %v %v %d-byte key", s.Algorithm.Algorithm, curve, len(s.PublicKey.Bytes))
	}
	pub, err := secp256k1.ParsePubKey(s.PublicKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("message"))
	sig, err := k.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := dcrecdsa.ParseDERSignature(sig)
	if err != nil || !parsed.Verify(d[:], pub) {
		t.Fatalf("decred does not verify the signature: %v", err)
	}
	p, err := keys.ParsePublicKey(der)
	if err != nil || !p.(*secp256k1.PublicKey).IsEqual(pub) {
		t.Fatalf("ParsePublicKey = %v, %v", p, err)
	}

	priv, _ := secp256k1.GeneratePrivateKey()
	other := dcrecdsa.Sign(priv, d[:])
	if !keys.VerifySecp256k1(priv.PubKey(), d[:], other.Serialize()) {
		t.Fatal("VerifySecp256k1 refuses decred's signature")
	}
	r, sv := other.R(), other.S()
	sv.Negate() // (r, N-s) is the same signature with a high S
	high, _ := asn1.Marshal(struct{ R, S *big.Int }{scalarInt(&r), scalarInt(&sv)})
	if !keys.VerifySecp256k1(priv.PubKey(), d[:], high) {
		t.Fatal("VerifySecp256k1 refuses a high-S signature")
	}
	e := sha256.Sum256([]byte("other"))
	for name, c := range map[string]struct{ digest, sig []byte }{
		"other digest":   {e[:], other.Serialize()},
		"trailing bytes": {d[:], append(other.Serialize(), 0)},
		"zero r":         {d[:], mustMarshal(struct{ R, S *big.Int }{big.NewInt(0), scalarInt(&sv)})},
		"r = N":          {d[:], mustMarshal(struct{ R, S *big.Int }{secp256k1.Params().N, scalarInt(&sv)})},
		"garbage":        {d[:], []byte("sig")},
	} {
		if keys.VerifySecp256k1(priv.PubKey(), c.digest, c.sig) {
			t.Errorf("%s verifies", name)
		}
	}
	if _, err := k.Sign(nil, d[:20], crypto.SHA256); err == nil {
		t.Fatal("Sign of a 20-byte digest succeeded")
	}

	p8, err := keys.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := keys.ParsePrivateKey(p8)
	if err != nil || !back.Public().(*secp256k1.PublicKey).IsEqual(pub) {
		t.Fatalf("ParsePrivateKey = %v, %v", back, err)
	}
}

func scalarInt(s *secp256k1.ModNScalar) *big.Int {
	b := s.Bytes()
	return new(big.Int).SetBytes(b[:])
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The parsers pass every other key to crypto/x509 and back.
func TestStandardKeysPassThrough(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []crypto.Signer{ec, ed} {
		der, err := keys.MarshalPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		std, _ := x509.MarshalPKIXPublicKey(k.Public())
		if !bytes.Equal(der, std) {
			t.Fatalf("%T: MarshalPublicKey differs from crypto/x509", k)
		}
		pub, err := keys.ParsePublicKey(der)
		if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatalf("%T: ParsePublicKey = %v, %v", k, pub, err)
		}
		p8, err := keys.MarshalPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := keys.ParsePrivateKey(p8)
		if err != nil || !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatalf("%T: ParsePrivateKey = %v, %v", k, back, err)
		}
	}
}

// Malformed encodings are refused, never panic.
func TestMalformed(t *testing.T) {
	k, _ := keys.GenerateMLDSA(keys.MLDSA44, rand.Reader)
	der, _ := keys.MarshalPublicKey(k.Public())
	p8, _ := keys.MarshalPrivateKey(k)
	k1, _ := keys.GenerateSecp256k1(rand.Reader)
	der1, _ := keys.MarshalPublicKey(k1.Public())
	p81, _ := keys.MarshalPrivateKey(k1)
	for name, b := range map[string][]byte{
		"ML-DSA SPKI truncated":      der[:len(der)-1],
		"ML-DSA SPKI trailing":       append(bytes.Clone(der), 0),
		"secp256k1 SPKI truncated":   der1[:len(der1)-1],
		"secp256k1 point off-curve":  append(bytes.Clone(der1[:len(der1)-1]), der1[len(der1)-1]^1),
		"empty":                      {},
		"ML-DSA PKCS#8 as SPKI":      p8,
		"secp256k1 PKCS#8 as SPKI":   p81,
		"ML-DSA SPKI with 65's size": bytes.Replace(bytes.Clone(der), []byte{0x03, 0x04, 0x03, 0x11}, []byte{0x03, 0x04, 0x03, 0x12}, 1),
	} {
		if _, err := keys.ParsePublicKey(b); err == nil {
			t.Errorf("ParsePublicKey(%s) succeeded", name)
		}
	}
	for name, b := range map[string][]byte{
		"ML-DSA PKCS#8 truncated":    p8[:len(p8)-1],
		"secp256k1 PKCS#8 truncated": p81[:len(p81)-1],
		"ML-DSA SPKI as PKCS#8":      der,
		"empty":                      {},
	} {
		if _, err := keys.ParsePrivateKey(b); err == nil {
			t.Errorf("ParsePrivateKey(%s) succeeded", name)
		}
	}
}

// FuzzParsePublicKey: ParsePublicKey never panics, and what it parses
// encodes back to the same DER for the package's own key types.
func FuzzParsePublicKey(f *testing.F) {
	for _, set := range []keys.MLDSA{keys.MLDSA44, keys.MLDSA65, keys.MLDSA87} {
		k, _ := keys.GenerateMLDSA(set, rand.Reader)
		der, _ := keys.MarshalPublicKey(k.Public())
		f.Add(der)
	}
	k1, _ := keys.GenerateSecp256k1(rand.Reader)
	der1, _ := keys.MarshalPublicKey(k1.Public())
	f.Add(der1)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	std, _ := x509.MarshalPKIXPublicKey(ec.Public())
	f.Add(std)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := keys.ParsePublicKey(der)
		if err != nil {
			return
		}
		switch pub.(type) {
		case *keys.MLDSAPublicKey:
			back, err := keys.MarshalPublicKey(pub)
			if err != nil || !bytes.Equal(back, der) {
				t.Fatalf("ML-DSA key re-encodes as %x, %v", back, err)
			}
		case *secp256k1.PublicKey:
			if _, err := keys.MarshalPublicKey(pub); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParsePrivateKey: ParsePrivateKey never panics, and a key it parses
// signs and re-encodes to a key with the same public key.
func FuzzParsePrivateKey(f *testing.F) {
	k, _ := keys.GenerateMLDSA(keys.MLDSA44, rand.Reader)
	p8, _ := keys.MarshalPrivateKey(k)
	f.Add(p8)
	k1, _ := keys.GenerateSecp256k1(rand.Reader)
	p81, _ := keys.MarshalPrivateKey(k1)
	f.Add(p81)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := keys.ParsePrivateKey(der)
		if err != nil {
			return
		}
		switch k.(type) {
		case *keys.MLDSAPrivateKey, *keys.Secp256k1PrivateKey:
			back, err := keys.MarshalPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := keys.ParsePrivateKey(back)
			if err != nil || !bytes.Equal(mustPub(t, k2), mustPub(t, k)) {
				t.Fatalf("re-encoded key differs: %v", err)
			}
		}
	})
}

func mustPub(t *testing.T, k crypto.Signer) []byte {
	der, err := keys.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}
