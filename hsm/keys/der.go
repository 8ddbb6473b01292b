package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// algorithm reads der's outer SEQUENCE and the AlgorithmIdentifier after
// skip leading elements: its OID and its parameters (empty if absent).
// rest is what follows the AlgorithmIdentifier inside the SEQUENCE.
func algorithm(der []byte, skip int) (oid asn1.ObjectIdentifier, params, rest cryptobyte.String, err error) {
	in := cryptobyte.String(der)
	var seq, alg cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, nil, nil, errors.New("keys: not a DER SEQUENCE")
	}
	for range skip {
		if !seq.SkipASN1(cbasn1.INTEGER) {
			return nil, nil, nil, errors.New("keys: malformed version")
		}
	}
	if !seq.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, nil, errors.New("keys: malformed AlgorithmIdentifier")
	}
	return oid, alg, seq, nil
}

// classify reads the AlgorithmIdentifier of a SubjectPublicKeyInfo (skip
// 0) or a PKCS#8 PrivateKeyInfo (skip 1): its ML-DSA parameter set (0 if
// none) or whether it is secp256k1, its parameters and what follows it.
func classify(der []byte, skip int) (set MLDSA, ecK1 bool, params, rest cryptobyte.String, err error) {
	oid, params, rest, err := algorithm(der, skip)
	if err != nil {
		return 0, false, nil, nil, err
	}
	return mldsaOf(oid), isSecp256k1(oid, params), params, rest, nil
}

// mldsaOf returns the parameter set of oid, 0 if it is none.
func mldsaOf(oid asn1.ObjectIdentifier) MLDSA {
	for set, s := range mldsaSets {
		if oid.Equal(s.oid) {
			return set
		}
	}
	return 0
}

// isSecp256k1 reports whether an AlgorithmIdentifier is id-ecPublicKey
// on secp256k1.
func isSecp256k1(oid asn1.ObjectIdentifier, params cryptobyte.String) bool {
	var curve asn1.ObjectIdentifier
	return oid.Equal(oidECPublicKey) && params.ReadASN1ObjectIdentifier(&curve) && params.Empty() && curve.Equal(oidSecp256k1)
}

// ParsePublicKey parses a DER SubjectPublicKeyInfo: an ML-DSA key
// (*MLDSAPublicKey), a secp256k1 key (*secp256k1.PublicKey), or any key
// x509.ParsePKIXPublicKey parses.
func ParsePublicKey(der []byte) (crypto.PublicKey, error) {
	set, ecK1, params, rest, err := classify(der, 0)
	if err != nil {
		return nil, err
	}
	if set == 0 && !ecK1 {
		return x509.ParsePKIXPublicKey(der)
	}
	var bits asn1.BitString
	if !rest.ReadASN1BitString(&bits) || !rest.Empty() || bits.BitLength%8 != 0 {
		return nil, errors.New("keys: malformed subjectPublicKey")
	}
	if ecK1 {
		k, err := secp256k1.ParsePubKey(bits.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: secp256k1 public key: %v", err)
		}
		return k, nil
	}
	if !params.Empty() {
		return nil, errors.New("keys: ML-DSA AlgorithmIdentifier with parameters")
	}
	pk, err := mldsaSets[set].scheme.UnmarshalBinaryPublicKey(bits.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keys: ML-DSA-%d public key: %v", set, err)
	}
	return newMLDSAPublicKey(set, pk, append([]byte(nil), bits.Bytes...)), nil
}

// MarshalPublicKey encodes a public key as a DER SubjectPublicKeyInfo.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	var b cryptobyte.Builder
	switch k := pub.(type) {
	case *MLDSAPublicKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(mldsaSets[k.Set].oid) })
			addBitString(b, k.raw)
		})
	case *secp256k1.PublicKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addSecp256k1Algorithm(b)
			addBitString(b, k.SerializeUncompressed())
		})
	default:
		return x509.MarshalPKIXPublicKey(pub)
	}
	return b.Bytes()
}

func addBitString(b *cryptobyte.Builder, v []byte) {
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddBytes(v)
	})
}

func addSecp256k1Algorithm(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidECPublicKey)
		b.AddASN1ObjectIdentifier(oidSecp256k1)
	})
}

// ML-DSA-PrivateKey's seed alternative is [0] IMPLICIT OCTET STRING
// (RFC 9881).
var mldsaSeedTag = cbasn1.Tag(0).ContextSpecific()

// ParsePrivateKey parses a PKCS#8 private key: an ML-DSA key in the seed
// form (*MLDSAPrivateKey), a secp256k1 key (*Secp256k1PrivateKey), or a
// key x509.ParsePKCS8PrivateKey parses that is a crypto.Signer.
func ParsePrivateKey(der []byte) (crypto.Signer, error) {
	set, ecK1, params, rest, err := classify(der, 1)
	if err != nil {
		return nil, err
	}
	if set == 0 && !ecK1 {
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("keys: private key of type %T", k)
		}
		return s, nil
	}
	var octets cryptobyte.String
	if !rest.ReadASN1(&octets, cbasn1.OCTET_STRING) {
		return nil, errors.New("keys: malformed privateKey")
	}
	// Attributes and a public key may follow (RFC 5958); they are ignored.
	if ecK1 {
		return parseECPrivateKey(octets)
	}
	var seed cryptobyte.String
	if !params.Empty() || !octets.ReadASN1(&seed, mldsaSeedTag) || !octets.Empty() {
		return nil, errors.New("keys: ML-DSA private key is not in the seed form")
	}
	return NewMLDSAPrivateKey(set, seed)
}

// parseECPrivateKey parses an RFC 5915 ECPrivateKey on secp256k1.
func parseECPrivateKey(der cryptobyte.String) (*Secp256k1PrivateKey, error) {
	var seq, d cryptobyte.String
	var version int
	if !der.ReadASN1(&seq, cbasn1.SEQUENCE) || !der.Empty() || !seq.ReadASN1Integer(&version) || version != 1 ||
		!seq.ReadASN1(&d, cbasn1.OCTET_STRING) || len(d) != 32 {
		return nil, errors.New("keys: malformed secp256k1 ECPrivateKey")
	}
	var curve cryptobyte.String
	var hasCurve bool
	if !seq.ReadOptionalASN1(&curve, &hasCurve, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		hasCurve && !isSecp256k1(oidECPublicKey, curve) {
		return nil, errors.New("keys: ECPrivateKey of another curve")
	}
	var pubField cryptobyte.String
	var hasPub bool
	if !seq.ReadOptionalASN1(&pubField, &hasPub, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return nil, errors.New("keys: malformed ECPrivateKey public key")
	}
	var n secp256k1.ModNScalar
	if n.SetByteSlice(d) || n.IsZero() {
		return nil, errors.New("keys: secp256k1 private key out of range")
	}
	k := &Secp256k1PrivateKey{secp256k1.NewPrivateKey(&n)}
	n.Zero()
	if hasPub {
		var bits asn1.BitString
		if !pubField.ReadASN1BitString(&bits) || !pubField.Empty() {
			return nil, errors.New("keys: malformed ECPrivateKey public key")
		}
		pub, err := secp256k1.ParsePubKey(bits.Bytes)
		if err != nil || !pub.IsEqual(k.k.PubKey()) {
			return nil, errors.New("keys: ECPrivateKey's public key does not match its private key")
		}
	}
	return k, nil
}

// MarshalPrivateKey encodes a private key as PKCS#8.
func MarshalPrivateKey(k crypto.Signer) ([]byte, error) {
	var b cryptobyte.Builder
	switch k := k.(type) {
	case *MLDSAPrivateKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(mldsaSets[k.pub.Set].oid) })
			b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
				b.AddASN1(mldsaSeedTag, func(b *cryptobyte.Builder) { b.AddBytes(k.seed[:]) })
			})
		})
	case *Secp256k1PrivateKey:
		d := k.k.Key.Bytes()
		defer clear(d[:])
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			addSecp256k1Algorithm(b)
			b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(1)
					b.AddASN1OctetString(d[:])
					b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						addBitString(b, k.k.PubKey().SerializeUncompressed())
					})
				})
			})
		})
	default:
		return x509.MarshalPKCS8PrivateKey(k)
	}
	return b.Bytes()
}
