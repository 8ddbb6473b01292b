package kms_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	dcrecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

func (e *env) createSpecKey(t testing.TB, spec, usage string) *kmsv1.KeyMetadata {
	t.Helper()
	r, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatalf("CreateKey %s %s: %v", spec, usage, err)
	}
	return r.KeyMetadata
}

// signingCases are the key specs Trent signs with and their algorithms
// (reference section 4.4).
var signingCases = []struct {
	spec string
	algs []string
}{
	{"ECC_NIST_P256", []string{"ECDSA_SHA_256"}},
	{"ECC_NIST_P384", []string{"ECDSA_SHA_384"}},
	{"ECC_NIST_P521", []string{"ECDSA_SHA_512"}},
	{"ECC_SECG_P256K1", []string{"ECDSA_SHA_256"}},
	{"ECC_NIST_EDWARDS25519", []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}},
	{"ML_DSA_44", []string{"ML_DSA_SHAKE_256"}},
	{"ML_DSA_65", []string{"ML_DSA_SHAKE_256"}},
	{"ML_DSA_87", []string{"ML_DSA_SHAKE_256"}},
	{"RSA_2048", rsaAlgs},
	{"RSA_3072", rsaAlgs},
	{"RSA_4096", rsaAlgs},
}

var rsaAlgs = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
	"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}

func hashOf(alg string) crypto.Hash {
	switch {
	case strings.HasSuffix(alg, "_256"):
		return crypto.SHA256
	case strings.HasSuffix(alg, "_384"):
		return crypto.SHA384
	}
	return crypto.SHA512
}

func digest(alg string, msg []byte) []byte {
	h := hashOf(alg).New()
	h.Write(msg)
	return h.Sum(nil)
}

// spki is a SubjectPublicKeyInfo (RFC 5280), for encoding and parsing
// the keys crypto/x509 does not know without Trent's code.
type spki struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	PublicKey asn1.BitString
}

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	// mlDSASchemes are circl's ML-DSA schemes by their OIDs.
	mlDSASchemes = map[string]sign.Scheme{"2.16.840.1.101.3.4.3.17": mldsa44.Scheme(),
		"2.16.840.1.101.3.4.3.18": mldsa65.Scheme(), "2.16.840.1.101.3.4.3.19": mldsa87.Scheme()}
)

// libraryPublicKey parses a DER SubjectPublicKeyInfo as a client would:
// with crypto/x509, or for ML-DSA with circl and for secp256k1 with
// decred's library.
func libraryPublicKey(der []byte) (crypto.PublicKey, error) {
	var s spki
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("not a SubjectPublicKeyInfo: %v", err)
	}
	if sch, ok := mlDSASchemes[s.Algorithm.Algorithm.String()]; ok {
		return sch.UnmarshalBinaryPublicKey(s.PublicKey.Bytes)
	}
	var curve asn1.ObjectIdentifier
	if s.Algorithm.Algorithm.Equal(oidECPublicKey) {
		if _, err := asn1.Unmarshal(s.Algorithm.Parameters.FullBytes, &curve); err == nil && curve.Equal(oidSecp256k1) {
			return secp256k1.ParsePubKey(s.PublicKey.Bytes)
		}
	}
	return x509.ParsePKIXPublicKey(der)
}

// librarySPKI encodes a circl ML-DSA or decred secp256k1 public key as a
// SubjectPublicKeyInfo with encoding/asn1, as a client would.
func librarySPKI(t testing.TB, pub crypto.PublicKey) []byte {
	var s spki
	switch k := pub.(type) {
	case sign.PublicKey:
		for oid, sch := range mlDSASchemes {
			if sch == k.Scheme() {
				s.Algorithm.Algorithm, _ = parseOID(oid)
			}
		}
		raw, _ := k.MarshalBinary()
		s.PublicKey = asn1.BitString{Bytes: raw, BitLength: 8 * len(raw)}
	case *secp256k1.PublicKey:
		s.Algorithm.Algorithm = oidECPublicKey
		s.Algorithm.Parameters.FullBytes, _ = asn1.Marshal(oidSecp256k1)
		raw := k.SerializeUncompressed()
		s.PublicKey = asn1.BitString{Bytes: raw, BitLength: 8 * len(raw)}
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	der, err := asn1.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		var n int
		if _, err := fmt.Sscan(part, &n); err != nil {
			return nil, err
		}
		oid = append(oid, n)
	}
	return oid, nil
}

// stdVerify verifies sig over msg as a client with Go's standard library
// (circl for ML-DSA, decred's library for secp256k1) and the public key
// alone would.
func stdVerify(pub crypto.PublicKey, alg string, msg, sig []byte) error {
	d := digest(alg, msg)
	switch k := pub.(type) {
	case sign.PublicKey:
		if !k.Scheme().Verify(k, msg, sig, nil) {
			return fmt.Errorf("ML-DSA signature does not verify")
		}
		return nil
	case *secp256k1.PublicKey:
		s, err := dcrecdsa.ParseDERSignature(sig)
		if err != nil || !s.Verify(d, k) {
			return fmt.Errorf("secp256k1 signature does not verify: %v", err)
		}
		return nil
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d, sig) {
			return fmt.Errorf("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if strings.Contains(alg, "PSS") {
			return rsa.VerifyPSS(k, hashOf(alg), d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, hashOf(alg), d, sig)
	case ed25519.PublicKey:
		if alg == "ED25519_SHA_512" {
			return ed25519.VerifyWithOptions(k, msg, sig, &ed25519.Options{})
		}
		return ed25519.VerifyWithOptions(k, d, sig, &ed25519.Options{Hash: crypto.SHA512})
	}
	return fmt.Errorf("public key of type %T", pub)
}

// messageTypes returns the message types alg signs, with the message to
// send for msg (for EXTERNAL_MU, μ computed from pub as a client does).
func messageTypes(t *testing.T, alg string, pub crypto.PublicKey, msg []byte) map[string][]byte {
	switch alg {
	case "ED25519_SHA_512":
		return map[string][]byte{"RAW": msg}
	case "ED25519_PH_SHA_512":
		return map[string][]byte{"DIGEST": digest(alg, msg)}
	case "ML_DSA_SHAKE_256":
		return map[string][]byte{"": msg, "RAW": msg, "EXTERNAL_MU": clientMu(t, pub, msg)}
	}
	return map[string][]byte{"": msg, "RAW": msg, "DIGEST": digest(alg, msg)}
}

// clientMu is ML-DSA's message representative of msg under pub with an
// empty context, computed as a client does (FIPS 204 Algorithm 2 and
// Algorithm 7, step 6), with crypto/sha3 and nothing of Trent's:
// SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || msg, 64).
func clientMu(t *testing.T, pub crypto.PublicKey, msg []byte) []byte {
	t.Helper()
	raw, err := pub.(sign.PublicKey).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tr := sha3.SumSHAKE256(raw, 64)
	return sha3.SumSHAKE256(slices.Concat(tr, []byte{0, 0}, msg), 64)
}

// Known answers: Trent's signatures verify with Go's standard library
// (circl for ML-DSA, decred's secp256k1) from GetPublicKey's output, for
// every spec, algorithm and message type (an ML-DSA signature of
// EXTERNAL_MU's μ verifies as circl's signature of the message), and
// Trent's Verify accepts them; a changed message or signature is
// KMSInvalidSignatureException.
func TestSignVerifyKnownAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msg := []byte("the message Trent signs")
	for _, c := range signingCases {
		if testing.Short() && (c.spec == "RSA_3072" || c.spec == "RSA_4096") {
			continue
		}
		t.Run(c.spec, func(t *testing.T) {
			m := e.createSpecKey(t, c.spec, "SIGN_VERIFY")
			if m.KeyUsage != "SIGN_VERIFY" || m.KeySpec != c.spec || !slices.Equal(m.SigningAlgorithms, c.algs) || len(m.EncryptionAlgorithms) != 0 {
				t.Fatalf("metadata = %v", m)
			}
			pk, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: m.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			if pk.KeyId != m.Arn || pk.KeySpec != c.spec || pk.KeyUsage != "SIGN_VERIFY" || !slices.Equal(pk.SigningAlgorithms, c.algs) {
				t.Fatalf("GetPublicKey = %v", pk)
			}
			pub, err := libraryPublicKey(pk.PublicKey)
			if err != nil {
				t.Fatalf("PublicKey is not a DER SubjectPublicKeyInfo: %v", err)
			}
			for _, alg := range c.algs {
				for mt, in := range messageTypes(t, alg, pub, msg) {
					r, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: m.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg})
					if err != nil {
						t.Fatalf("Sign %s %s: %v", alg, mt, err)
					}
					if r.KeyId != m.Arn || r.SigningAlgorithm != alg {
						t.Fatalf("Sign = %v", r)
					}
					if err := stdVerify(pub, alg, msg, r.Signature); err != nil {
						t.Fatalf("%s %s: standard library: %v", alg, mt, err)
					}
					v, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: m.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg, Signature: r.Signature})
					if err != nil || !v.SignatureValid || v.KeyId != m.Arn {
						t.Fatalf("Verify %s %s = %v, %v", alg, mt, v, err)
					}
					bad := bytes.Clone(in)
					bad[0] ^= 1
					_, err = e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: m.KeyId, Message: bad, MessageType: mt, SigningAlgorithm: alg, Signature: r.Signature})
					wantType(t, err, wire.KMSInvalidSignature)
					sig := bytes.Clone(r.Signature)
					sig[len(sig)/2] ^= 1
					_, err = e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: m.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg, Signature: sig})
					wantType(t, err, wire.KMSInvalidSignature)
				}
			}
		})
	}
}

// Verify accepts signatures the standard library made with the private
// key of the public key in the state: verification needs nothing of the
// HSM, so a key whose EKT is garbage still verifies.
func TestVerifyAcceptsStandardLibrarySignatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msg := []byte("signed outside Trent")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	k1Key, _ := secp256k1.GeneratePrivateKey()
	_, mlKey, _ := mldsa65.GenerateKey(rand.Reader)
	for i, c := range []struct {
		spec string
		key  crypto.Signer
		alg  string
		sign func() []byte
	}{
		{"ECC_NIST_P384", ecKey, "ECDSA_SHA_384", func() []byte { s, _ := ecdsa.SignASN1(rand.Reader, ecKey, digest("ECDSA_SHA_384", msg)); return s }},
		{"RSA_2048", rsaKey, "RSASSA_PSS_SHA_512", func() []byte {
			s, _ := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA512, digest("RSASSA_PSS_SHA_512", msg), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return s
		}},
		{"RSA_2048", rsaKey, "RSASSA_PKCS1_V1_5_SHA_256", func() []byte {
			s, _ := rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA256, digest("RSASSA_PKCS1_V1_5_SHA_256", msg))
			return s
		}},
		{"ECC_NIST_EDWARDS25519", edKey, "ED25519_SHA_512", func() []byte { return ed25519.Sign(edKey, msg) }},
		{"ECC_SECG_P256K1", nil, "ECDSA_SHA_256", func() []byte { return dcrecdsa.Sign(k1Key, digest("ECDSA_SHA_256", msg)).Serialize() }},
		{"ML_DSA_65", mlKey, "ML_DSA_SHAKE_256", func() []byte { return mldsa65.Scheme().Sign(mlKey, msg, nil) }},
		{"ML_DSA_65", mlKey, "ML_DSA_SHAKE_256 EXTERNAL_MU", func() []byte { return mldsa65.Scheme().Sign(mlKey, msg, nil) }},
	} {
		var pub crypto.PublicKey = k1Key.PubKey()
		if c.key != nil {
			pub = c.key.Public()
		}
		der := librarySPKI(t, pub)
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		e.apply(t, &fsm.CreateKey{Key: fsm.Key{ID: id, ARN: "arn:aws:kms:us-east-1:" + acct + ":key/" + id, Account: acct,
			KeySpec: c.spec, KeyUsage: "SIGN_VERIFY", Origin: "AWS_KMS", State: fsm.Enabled,
			Versions: []fsm.KeyVersion{{ID: strings.Repeat("ab", 16), EKT: []byte("not an EKT"), PublicKey: der}}}})
		alg, mt, in := c.alg, "", msg
		if a, ok := strings.CutSuffix(c.alg, " EXTERNAL_MU"); ok {
			alg, mt, in = a, "EXTERNAL_MU", clientMu(t, pub, msg)
		}
		v, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: id, Message: in, MessageType: mt, SigningAlgorithm: alg, Signature: c.sign()})
		if err != nil || !v.SignatureValid {
			t.Fatalf("%s %s: Verify = %v, %v", c.spec, c.alg, v, err)
		}
	}
}

// HMAC keys: GenerateMac's tag has the algorithm's length, VerifyMac
// accepts it and refuses another tag or message with
// KMSInvalidMacException.
func TestGenerateVerifyMac(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		spec, alg string
		size      int
	}{{"HMAC_224", "HMAC_SHA_224", 28}, {"HMAC_256", "HMAC_SHA_256", 32}, {"HMAC_384", "HMAC_SHA_384", 48}, {"HMAC_512", "HMAC_SHA_512", 64}} {
		m := e.createSpecKey(t, c.spec, "GENERATE_VERIFY_MAC")
		if !slices.Equal(m.MacAlgorithms, []string{c.alg}) || len(m.EncryptionAlgorithms) != 0 {
			t.Fatalf("metadata = %v", m)
		}
		msg := []byte("message")
		g, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: m.KeyId, Message: msg, MacAlgorithm: c.alg})
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Mac) != c.size || g.MacAlgorithm != c.alg || g.KeyId != m.Arn {
			t.Fatalf("GenerateMac = %v", g)
		}
		g2, _ := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: m.KeyId, Message: msg, MacAlgorithm: c.alg})
		if !bytes.Equal(g.Mac, g2.Mac) {
			t.Fatal("GenerateMac is not deterministic")
		}
		v, err := e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: m.KeyId, Message: msg, MacAlgorithm: c.alg, Mac: g.Mac})
		if err != nil || !v.MacValid || v.KeyId != m.Arn || v.MacAlgorithm != c.alg {
			t.Fatalf("VerifyMac = %v, %v", v, err)
		}
		bad := bytes.Clone(g.Mac)
		bad[0] ^= 1
		_, err = e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: m.KeyId, Message: msg, MacAlgorithm: c.alg, Mac: bad})
		wantType(t, err, wire.KMSInvalidMac)
		_, err = e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: m.KeyId, Message: []byte("other"), MacAlgorithm: c.alg, Mac: g.Mac})
		wantType(t, err, wire.KMSInvalidMac)
		_, err = e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: m.KeyId, Message: msg, MacAlgorithm: c.alg, Mac: g.Mac[:c.size-1]})
		wantType(t, err, wire.KMSInvalidMac)
	}
}

// Every key spec against every operation: each combination AWS refuses
// answers AWS's error (reference sections 1.5, 2.2, 4.4, 5.1), and the
// valid ones succeed.
func TestKeySpecOperationTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := map[string]*kmsv1.KeyMetadata{
		"sym":    e.createKey(t),
		"p256":   e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY"),
		"rsa":    e.createSpecKey(t, "RSA_2048", "SIGN_VERIFY"),
		"ed":     e.createSpecKey(t, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
		"hmac":   e.createSpecKey(t, "HMAC_256", "GENERATE_VERIFY_MAC"),
		"k1":     e.createSpecKey(t, "ECC_SECG_P256K1", "SIGN_VERIFY"),
		"mldsa":  e.createSpecKey(t, "ML_DSA_44", "SIGN_VERIFY"),
		"rsaenc": e.createSpecKey(t, "RSA_2048", "ENCRYPT_DECRYPT"),
		"agree":  e.createSpecKey(t, "ECC_NIST_P256", "KEY_AGREEMENT"),
	}
	blob := e.encrypt(t, keys["sym"].KeyId, "x")
	peer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.Public())
	derive := func(key string) func() error {
		return func() error {
			_, err := e.svc.DeriveSharedSecret(e.root, &kmsv1.DeriveSharedSecretRequest{KeyId: keys[key].KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: peerDER})
			return err
		}
	}
	pairWith := func(key string) func() error {
		return func() error {
			_, err := e.svc.GenerateDataKeyPair(e.root, &kmsv1.GenerateDataKeyPairRequest{KeyId: keys[key].KeyId, KeyPairSpec: "ECC_NIST_P256"})
			return err
		}
	}
	d256, d384 := digest("ECDSA_SHA_256", []byte("m")), digest("ECDSA_SHA_384", []byte("m"))
	sign := func(key, alg, mt string, msg []byte) func() error {
		return func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: keys[key].KeyId, Message: msg, MessageType: mt, SigningAlgorithm: alg})
			return err
		}
	}
	verify := func(key, alg string, sig []byte) func() error {
		return func() error {
			_, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: keys[key].KeyId, Message: []byte("m"), SigningAlgorithm: alg, Signature: sig})
			return err
		}
	}
	mac := func(key, alg string) func() error {
		return func() error {
			_, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: keys[key].KeyId, Message: []byte("m"), MacAlgorithm: alg})
			return err
		}
	}
	verifyMac := func(key, alg string) func() error {
		return func() error {
			_, err := e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: keys[key].KeyId, Message: []byte("m"), MacAlgorithm: alg, Mac: make([]byte, 32)})
			return err
		}
	}
	publicKey := func(key string) func() error {
		return func() error {
			_, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: keys[key].KeyId})
			return err
		}
	}
	encrypt := func(key string) func() error {
		return func() error {
			_, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: keys[key].KeyId, Plaintext: []byte("x")})
			return err
		}
	}
	dataKey := func(key string) func() error {
		return func() error {
			_, err := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: keys[key].KeyId, KeySpec: "AES_256"})
			return err
		}
	}
	decrypt := func(key string) func() error {
		return func() error {
			_, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: keys[key].KeyId, CiphertextBlob: blob})
			return err
		}
	}
	reEncryptTo := func(key string) func() error {
		return func() error {
			_, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: blob, DestinationKeyId: keys[key].KeyId})
			return err
		}
	}
	grant := func(key string, ops ...string) func() error {
		return func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: keys[key].KeyId, GranteePrincipal: carolARN, Operations: ops})
			return err
		}
	}
	rotate := func(key string) func() error {
		return func() error {
			_, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: keys[key].KeyId})
			return err
		}
	}
	enableRotation := func(key string) func() error {
		return func() error {
			_, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: keys[key].KeyId})
			return err
		}
	}
	rotationStatus := func(key string) func() error {
		return func() error {
			_, err := e.svc.GetKeyRotationStatus(e.root, &kmsv1.GetKeyRotationStatusRequest{KeyId: keys[key].KeyId})
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		// Symmetric operations on signing and HMAC keys.
		{"Encrypt sym", encrypt("sym"), ""},
		{"Encrypt p256", encrypt("p256"), wire.InvalidKeyUsage},
		{"Encrypt rsa", encrypt("rsa"), wire.InvalidKeyUsage},
		{"Encrypt hmac", encrypt("hmac"), wire.InvalidKeyUsage},
		{"GenerateDataKey ed", dataKey("ed"), wire.InvalidKeyUsage},
		{"GenerateDataKey hmac", dataKey("hmac"), wire.InvalidKeyUsage},
		{"Decrypt naming p256", decrypt("p256"), wire.IncorrectKey},
		{"Decrypt naming hmac", decrypt("hmac"), wire.IncorrectKey},
		{"ReEncrypt to rsa", reEncryptTo("rsa"), wire.InvalidKeyUsage},
		{"ReEncrypt to hmac", reEncryptTo("hmac"), wire.InvalidKeyUsage},
		// Sign.
		{"Sign p256", sign("p256", "ECDSA_SHA_256", "", []byte("m")), ""},
		{"Sign p256 digest", sign("p256", "ECDSA_SHA_256", "DIGEST", d256), ""},
		{"Sign p256 short digest", sign("p256", "ECDSA_SHA_256", "DIGEST", d256[:31]), wire.Validation},
		{"Sign p256 SHA-384", sign("p256", "ECDSA_SHA_384", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign p256 RSA algorithm", sign("p256", "RSASSA_PSS_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign p256 ML-DSA algorithm", sign("p256", "ML_DSA_SHAKE_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign p256 EXTERNAL_MU", sign("p256", "ECDSA_SHA_256", "EXTERNAL_MU", d256), wire.InvalidKeyUsage},
		{"Sign p256 unknown algorithm", sign("p256", "ECDSA", "", []byte("m")), wire.Validation},
		{"Sign p256 no algorithm", sign("p256", "", "", []byte("m")), wire.Validation},
		{"Sign p256 unknown message type", sign("p256", "ECDSA_SHA_256", "HASH", []byte("m")), wire.Validation},
		{"Sign p256 empty message", sign("p256", "ECDSA_SHA_256", "", nil), wire.Validation},
		{"Sign p256 4096 bytes", sign("p256", "ECDSA_SHA_256", "", make([]byte, 4096)), ""},
		{"Sign p256 4097 bytes", sign("p256", "ECDSA_SHA_256", "", make([]byte, 4097)), wire.Validation},
		{"Sign rsa PSS-384 digest", sign("rsa", "RSASSA_PSS_SHA_384", "DIGEST", d384), ""},
		{"Sign rsa PKCS1-384 SHA-256 digest", sign("rsa", "RSASSA_PKCS1_V1_5_SHA_384", "DIGEST", d256), wire.Validation},
		{"Sign rsa ECDSA", sign("rsa", "ECDSA_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign ed pure RAW", sign("ed", "ED25519_SHA_512", "RAW", []byte("m")), ""},
		{"Sign ed pure DIGEST", sign("ed", "ED25519_SHA_512", "DIGEST", make([]byte, 64)), wire.Validation},
		{"Sign ed prehash RAW", sign("ed", "ED25519_PH_SHA_512", "RAW", []byte("m")), wire.Validation},
		{"Sign ed prehash short digest", sign("ed", "ED25519_PH_SHA_512", "DIGEST", d256), wire.Validation},
		{"Sign ed ECDSA", sign("ed", "ECDSA_SHA_512", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign sym", sign("sym", "ECDSA_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign hmac", sign("hmac", "ECDSA_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign p256 dry run", func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: keys["p256"].KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256", DryRun: true})
			return err
		}, wire.DryRunOperation},
		{"GenerateMac hmac dry run", func() error {
			_, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: keys["hmac"].KeyId, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256", DryRun: true})
			return err
		}, wire.DryRunOperation},
		{"Sign by alias", func() error {
			e.createAlias(t, "alias/signer", keys["p256"].KeyId)
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: "alias/signer", Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}, ""},
		// Verify.
		{"Verify p256 garbage", verify("p256", "ECDSA_SHA_256", []byte("sig")), wire.KMSInvalidSignature},
		{"Verify p256 empty signature", verify("p256", "ECDSA_SHA_256", nil), wire.Validation},
		{"Verify p256 huge signature", verify("p256", "ECDSA_SHA_256", make([]byte, 6145)), wire.Validation},
		{"Verify rsa garbage", verify("rsa", "RSASSA_PSS_SHA_256", []byte("sig")), wire.KMSInvalidSignature},
		{"Verify ed garbage", verify("ed", "ED25519_SHA_512", make([]byte, 64)), wire.KMSInvalidSignature},
		{"Verify sym", verify("sym", "ECDSA_SHA_256", []byte("sig")), wire.InvalidKeyUsage},
		{"Verify hmac", verify("hmac", "ECDSA_SHA_256", []byte("sig")), wire.InvalidKeyUsage},
		{"Verify p256 wrong algorithm", verify("p256", "ECDSA_SHA_512", []byte("sig")), wire.InvalidKeyUsage},
		// GetPublicKey.
		{"GetPublicKey p256", publicKey("p256"), ""},
		{"GetPublicKey sym", publicKey("sym"), wire.UnsupportedOperation},
		{"GetPublicKey hmac", publicKey("hmac"), wire.UnsupportedOperation},
		// MACs.
		{"GenerateMac hmac", mac("hmac", "HMAC_SHA_256"), ""},
		{"GenerateMac hmac other algorithm", mac("hmac", "HMAC_SHA_384"), wire.InvalidKeyUsage},
		{"GenerateMac hmac unknown algorithm", mac("hmac", "HMAC_SHA_1"), wire.Validation},
		{"GenerateMac hmac no algorithm", mac("hmac", ""), wire.Validation},
		{"GenerateMac sym", mac("sym", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		{"GenerateMac p256", mac("p256", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		{"VerifyMac hmac wrong tag", verifyMac("hmac", "HMAC_SHA_256"), wire.KMSInvalidMac},
		{"VerifyMac hmac other algorithm", verifyMac("hmac", "HMAC_SHA_512"), wire.InvalidKeyUsage},
		{"VerifyMac rsa", verifyMac("rsa", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		// Grants: operations the key's usage supports (reference 2.2).
		{"CreateGrant p256 Sign Verify GetPublicKey", grant("p256", "Sign", "Verify", "GetPublicKey", "DescribeKey", "CreateGrant", "RetireGrant"), ""},
		{"CreateGrant p256 Encrypt", grant("p256", "Sign", "Encrypt"), wire.Validation},
		{"CreateGrant p256 GenerateDataKeyPair", grant("p256", "GenerateDataKeyPair"), wire.Validation},
		{"CreateGrant p256 GenerateMac", grant("p256", "GenerateMac"), wire.Validation},
		{"CreateGrant hmac GenerateMac VerifyMac", grant("hmac", "GenerateMac", "VerifyMac", "DescribeKey"), ""},
		{"CreateGrant hmac Sign", grant("hmac", "Sign"), wire.Validation},
		{"CreateGrant hmac Decrypt", grant("hmac", "Decrypt"), wire.Validation},
		{"CreateGrant sym Sign", grant("sym", "Sign"), wire.Validation},
		{"CreateGrant sym GenerateMac", grant("sym", "GenerateMac"), wire.Validation},
		// Rotation: symmetric keys only (reference 5.1).
		{"RotateKeyOnDemand p256", rotate("p256"), wire.UnsupportedOperation},
		{"RotateKeyOnDemand hmac", rotate("hmac"), wire.UnsupportedOperation},
		{"EnableKeyRotation rsa", enableRotation("rsa"), wire.UnsupportedOperation},
		{"EnableKeyRotation hmac", enableRotation("hmac"), wire.UnsupportedOperation},
		{"GetKeyRotationStatus ed", rotationStatus("ed"), wire.UnsupportedOperation},
		// secp256k1 and ML-DSA keys.
		{"Sign k1", sign("k1", "ECDSA_SHA_256", "RAW", []byte("m")), ""},
		{"Sign k1 digest", sign("k1", "ECDSA_SHA_256", "DIGEST", d256), ""},
		{"Sign k1 SHA-384 digest", sign("k1", "ECDSA_SHA_256", "DIGEST", d384), wire.Validation},
		{"Sign k1 ECDSA_SHA_384", sign("k1", "ECDSA_SHA_384", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign k1 EXTERNAL_MU", sign("k1", "ECDSA_SHA_256", "EXTERNAL_MU", make([]byte, 64)), wire.InvalidKeyUsage},
		{"Sign mldsa", sign("mldsa", "ML_DSA_SHAKE_256", "", []byte("m")), ""},
		{"Sign mldsa RAW 4096 bytes", sign("mldsa", "ML_DSA_SHAKE_256", "RAW", make([]byte, 4096)), ""},
		{"Sign mldsa DIGEST", sign("mldsa", "ML_DSA_SHAKE_256", "DIGEST", make([]byte, 64)), wire.Validation},
		{"Sign mldsa EXTERNAL_MU", sign("mldsa", "ML_DSA_SHAKE_256", "EXTERNAL_MU", make([]byte, 64)), ""},
		{"Sign mldsa long EXTERNAL_MU", sign("mldsa", "ML_DSA_SHAKE_256", "EXTERNAL_MU", make([]byte, 65)), wire.Validation},
		{"Sign mldsa short EXTERNAL_MU", sign("mldsa", "ML_DSA_SHAKE_256", "EXTERNAL_MU", make([]byte, 63)), wire.Validation},
		{"Sign mldsa ECDSA", sign("mldsa", "ECDSA_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign mldsa ED25519", sign("mldsa", "ED25519_SHA_512", "RAW", []byte("m")), wire.InvalidKeyUsage},
		{"Sign rsa ML-DSA algorithm", sign("rsa", "ML_DSA_SHAKE_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign ed ML-DSA algorithm", sign("ed", "ML_DSA_SHAKE_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign p256 SM2DSA", sign("p256", "SM2DSA", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign rsaenc", sign("rsaenc", "RSASSA_PSS_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Sign agree", sign("agree", "ECDSA_SHA_256", "", []byte("m")), wire.InvalidKeyUsage},
		{"Verify k1 garbage", verify("k1", "ECDSA_SHA_256", []byte("sig")), wire.KMSInvalidSignature},
		{"Verify mldsa garbage", verify("mldsa", "ML_DSA_SHAKE_256", make([]byte, 2420)), wire.KMSInvalidSignature},
		{"Verify mldsa ECDSA", verify("mldsa", "ECDSA_SHA_256", []byte("sig")), wire.InvalidKeyUsage},
		{"Verify rsaenc", verify("rsaenc", "RSASSA_PSS_SHA_256", []byte("sig")), wire.InvalidKeyUsage},
		{"GetPublicKey k1", publicKey("k1"), ""},
		{"GetPublicKey mldsa", publicKey("mldsa"), ""},
		{"GetPublicKey rsaenc", publicKey("rsaenc"), ""},
		{"GetPublicKey agree", publicKey("agree"), ""},
		{"Encrypt mldsa", encrypt("mldsa"), wire.InvalidKeyUsage},
		{"Encrypt k1", encrypt("k1"), wire.InvalidKeyUsage},
		{"GenerateDataKey mldsa", dataKey("mldsa"), wire.InvalidKeyUsage},
		{"GenerateDataKey rsaenc", dataKey("rsaenc"), wire.InvalidKeyUsage},
		{"GenerateDataKeyPair mldsa", pairWith("mldsa"), wire.InvalidKeyUsage},
		{"GenerateDataKeyPair rsaenc", pairWith("rsaenc"), wire.InvalidKeyUsage},
		{"GenerateDataKeyPair sym", pairWith("sym"), ""},
		{"Decrypt naming mldsa", decrypt("mldsa"), wire.IncorrectKey},
		{"Decrypt naming k1", decrypt("k1"), wire.IncorrectKey},
		{"ReEncrypt to mldsa", reEncryptTo("mldsa"), wire.InvalidKeyUsage},
		{"GenerateMac mldsa", mac("mldsa", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		{"GenerateMac k1", mac("k1", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		{"VerifyMac mldsa", verifyMac("mldsa", "HMAC_SHA_256"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret agree", derive("agree"), ""},
		{"DeriveSharedSecret p256 signing", derive("p256"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret k1", derive("k1"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret mldsa", derive("mldsa"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret rsaenc", derive("rsaenc"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret sym", derive("sym"), wire.InvalidKeyUsage},
		{"DeriveSharedSecret hmac", derive("hmac"), wire.InvalidKeyUsage},
		{"CreateGrant mldsa Sign Verify GetPublicKey", grant("mldsa", "Sign", "Verify", "GetPublicKey"), ""},
		{"CreateGrant mldsa Encrypt", grant("mldsa", "Encrypt"), wire.Validation},
		{"CreateGrant k1 DeriveSharedSecret", grant("k1", "DeriveSharedSecret"), wire.Validation},
		{"RotateKeyOnDemand mldsa", rotate("mldsa"), wire.UnsupportedOperation},
		{"EnableKeyRotation k1", enableRotation("k1"), wire.UnsupportedOperation},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			wantType(t, tt.call(), tt.want)
		})
	}
}

// referenceSigningAlgorithms is the reference's SigningAlgorithmSpec enum
// (section 1.2).
var referenceSigningAlgorithms = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
	"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256",
	"ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512", "ED25519_PH_SHA_512"}

// Every SigningAlgorithmSpec of the reference against a key of every
// signing spec: Sign and Verify succeed with the spec's algorithms and
// answer InvalidKeyUsageException for every other; a DIGEST message is
// accepted only at its algorithm's digest length (ValidationException
// otherwise, and for the algorithms that take no DIGEST).
func TestSigningAlgorithmMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msg := []byte("matrix")
	for _, c := range signingCases {
		if c.spec == "RSA_3072" || c.spec == "RSA_4096" {
			continue // RSA_2048 has the same algorithms
		}
		k := e.createSpecKey(t, c.spec, "SIGN_VERIFY")
		for _, alg := range referenceSigningAlgorithms {
			t.Run(c.spec+"/"+alg, func(t *testing.T) {
				mt, in := "RAW", msg
				if alg == "ED25519_PH_SHA_512" {
					mt, in = "DIGEST", digest(alg, msg)
				}
				r, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: k.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg})
				_, verr := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: k.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg, Signature: []byte("s")})
				if !slices.Contains(c.algs, alg) {
					wantType(t, err, wire.InvalidKeyUsage)
					wantType(t, verr, wire.InvalidKeyUsage)
					return
				}
				wantType(t, err, "")
				wantType(t, verr, wire.KMSInvalidSignature)
				if _, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: k.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg, Signature: r.Signature}); err != nil {
					t.Fatal(err)
				}
				size := hashOf(alg).Size()
				for _, n := range []int{1, size - 1, size, size + 1, 64} {
					d := make([]byte, n)
					want := ""
					if n != size || alg == "ED25519_SHA_512" || alg == "ML_DSA_SHAKE_256" {
						want = wire.Validation
					}
					_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: k.KeyId, Message: d, MessageType: "DIGEST", SigningAlgorithm: alg})
					if wantType(t, err, want); want == "" {
						continue
					}
					_, err = e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: k.KeyId, Message: d, MessageType: "DIGEST", SigningAlgorithm: alg, Signature: []byte("s")})
					wantType(t, err, want)
				}
			})
		}
	}
}

// The key-state table's rows for Sign, Verify, GetPublicKey, GenerateMac
// and VerifyMac (reference 4.3, like Encrypt): DisabledException on a
// disabled key, KMSInvalidStateException on one pending deletion.
func TestAsymmetricKeyStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ops := func(sign, hmac string) map[string]func() error {
		return map[string]func() error{
			"Sign": func() error {
				_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: sign, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
				return err
			},
			"Verify": func() error {
				_, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: sign, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256", Signature: []byte("s")})
				return err
			},
			"GetPublicKey": func() error {
				_, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: sign})
				return err
			},
			"GenerateMac": func() error {
				_, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: hmac, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
				return err
			},
			"VerifyMac": func() error {
				_, err := e.svc.VerifyMac(e.root, &kmsv1.VerifyMacRequest{KeyId: hmac, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256", Mac: []byte("t")})
				return err
			},
		}
	}
	disabledSign, disabledMac := e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY"), e.createSpecKey(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	pendingSign, pendingMac := e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY"), e.createSpecKey(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	for _, id := range []string{disabledSign.KeyId, disabledMac.KeyId} {
		if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{pendingSign.KeyId, pendingMac.KeyId} {
		if _, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: id, PendingWindowInDays: i32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	for name, call := range ops(disabledSign.KeyId, disabledMac.KeyId) {
		t.Run("Disabled_"+name, func(t *testing.T) { wantType(t, call(), wire.Disabled) })
	}
	for name, call := range ops(pendingSign.KeyId, pendingMac.KeyId) {
		t.Run("PendingDeletion_"+name, func(t *testing.T) { wantType(t, call(), wire.KMSInvalidState) })
	}
}

// BenchmarkSignService measures Sign, Verify and GenerateMac through the
// service in-process (authorization, state, HSM; no transport) at
// concurrency 32, next to the same operation in Go's crypto library
// (sub-benchmarks .../raw).
func BenchmarkSignService(b *testing.B) {
	e := newEnv(b)
	p256, rsa2048 := e.createSpecKey(b, "ECC_NIST_P256", "SIGN_VERIFY"), e.createSpecKey(b, "RSA_2048", "SIGN_VERIFY")
	mac := e.createSpecKey(b, "HMAC_256", "GENERATE_VERIFY_MAC")
	msg := make([]byte, 32)
	sig, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		b.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	d := digest("ECDSA_SHA_256", msg)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ecKey, d)
	for _, c := range []struct {
		name string
		op   func() error
	}{
		{"Sign_ECC_NIST_P256/raw", func() error {
			_, err := ecdsa.SignASN1(rand.Reader, ecKey, digest("ECDSA_SHA_256", msg))
			return err
		}},
		{"Sign_RSA_2048/raw", func() error {
			_, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, digest("ECDSA_SHA_256", msg), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return err
		}},
		{"Verify_ECC_NIST_P256/raw", func() error {
			ecdsa.VerifyASN1(&ecKey.PublicKey, digest("ECDSA_SHA_256", msg), ecSig)
			return nil
		}},
		{"GenerateMac_HMAC_256/raw", func() error {
			m := hmac.New(sha256.New, d)
			m.Write(msg)
			m.Sum(nil)
			return nil
		}},
		{"Sign_ECC_NIST_P256", func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}},
		{"Sign_RSA_2048", func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: rsa2048.KeyId, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}},
		{"Verify_ECC_NIST_P256", func() error {
			_, err := e.svc.Verify(e.root, &kmsv1.VerifyRequest{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256", Signature: sig.Signature})
			return err
		}},
		{"GenerateMac_HMAC_256", func() error {
			_, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: mac.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// symmetricOnly is a backend with the symmetric methods only, as a
// backend without asymmetric or HMAC keys (a PKCS#11 token without them).
type symmetricOnly struct {
	kms.HSM
	name string
}

func (b symmetricOnly) Capabilities() hsm.Capabilities {
	return hsm.Capabilities{Name: b.name, Specs: []hsm.KeySpec{hsm.SymmetricDefault}}
}

// A backend that lacks asymmetric or HMAC keys says so: CreateKey of such
// a spec answers UnsupportedOperationException naming the backend, and
// creates nothing; symmetric keys still work.
func TestBackendWithoutAsymmetricKeys(t *testing.T) {
	t.Parallel()
	e := newEnvMax(t, nil, 20, func(c *kms.Config) { c.HSM = symmetricOnly{HSM: c.HSM, name: "pkcs11"} })
	for _, spec := range [][2]string{{"ECC_NIST_P256", "SIGN_VERIFY"}, {"RSA_2048", "SIGN_VERIFY"}, {"HMAC_256", "GENERATE_VERIFY_MAC"},
		{"ML_DSA_65", "SIGN_VERIFY"}, {"ECC_SECG_P256K1", "SIGN_VERIFY"}} {
		_, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{KeySpec: spec[0], KeyUsage: spec[1]})
		wantType(t, err, wire.UnsupportedOperation)
		if !strings.Contains(message(t, err), "pkcs11") {
			t.Fatalf("%s: message %q does not name the backend", spec[0], message(t, err))
		}
	}
	if n := e.fsm.KeyCount(); n != 0 {
		t.Fatalf("refused CreateKey calls created %d keys", n)
	}
	e.createKey(t)
}

// RSA encryption keys: ciphertexts the standard library makes from
// GetPublicKey's output decrypt in Trent, Trent's decrypt too, with
// RSAES_OAEP_SHA_1 and _SHA_256; AWS's plaintext limits hold; every
// mismatch answers AWS's error.
func TestRSAEncryptDecrypt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := e.createSpecKey(t, "RSA_2048", "ENCRYPT_DECRYPT")
	if !slices.Equal(k.EncryptionAlgorithms, []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) || len(k.SigningAlgorithms) != 0 {
		t.Fatalf("metadata = %v", k)
	}
	pk, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: k.KeyId})
	if err != nil || !slices.Equal(pk.EncryptionAlgorithms, k.EncryptionAlgorithms) || pk.KeyUsage != "ENCRYPT_DECRYPT" {
		t.Fatalf("GetPublicKey = %v, %v", pk, err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for alg, h := range map[string]crypto.Hash{"RSAES_OAEP_SHA_1": crypto.SHA1, "RSAES_OAEP_SHA_256": crypto.SHA256} {
		std, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("from outside"), nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: k.KeyId, CiphertextBlob: std, EncryptionAlgorithm: alg})
		if err != nil || string(d.Plaintext) != "from outside" || d.KeyId != k.Arn || d.EncryptionAlgorithm != alg {
			t.Fatalf("%s: Decrypt of a standard-library ciphertext = %v, %v", alg, d, err)
		}
		enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("inside"), EncryptionAlgorithm: alg})
		if err != nil || enc.EncryptionAlgorithm != alg {
			t.Fatalf("%s: Encrypt = %v, %v", alg, enc, err)
		}
		d, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: k.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: alg})
		if err != nil || string(d.Plaintext) != "inside" {
			t.Fatalf("%s: round trip = %v, %v", alg, d, err)
		}
	}
	sym, signer := e.createKey(t), e.createSpecKey(t, "RSA_2048", "SIGN_VERIFY")
	enc, _ := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	encrypt := func(key string, n int, alg string, ec map[string]string) func() error {
		return func() error {
			_, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: key, Plaintext: make([]byte, n), EncryptionAlgorithm: alg, EncryptionContext: ec})
			return err
		}
	}
	decrypt := func(key string, blob []byte, alg string) func() error {
		return func() error {
			_, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: key, CiphertextBlob: blob, EncryptionAlgorithm: alg})
			return err
		}
	}
	flipped := bytes.Clone(enc.CiphertextBlob)
	flipped[5] ^= 1
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"SHA-1 at the limit", encrypt(k.KeyId, 214, "RSAES_OAEP_SHA_1", nil), ""},
		{"SHA-1 over the limit", encrypt(k.KeyId, 215, "RSAES_OAEP_SHA_1", nil), wire.Validation},
		{"SHA-256 at the limit", encrypt(k.KeyId, 190, "RSAES_OAEP_SHA_256", nil), ""},
		{"SHA-256 over the limit", encrypt(k.KeyId, 191, "RSAES_OAEP_SHA_256", nil), wire.Validation},
		{"no algorithm", encrypt(k.KeyId, 1, "", nil), wire.InvalidKeyUsage},
		{"SYMMETRIC_DEFAULT", encrypt(k.KeyId, 1, "SYMMETRIC_DEFAULT", nil), wire.InvalidKeyUsage},
		{"encryption context", encrypt(k.KeyId, 1, "RSAES_OAEP_SHA_256", map[string]string{"a": "b"}), wire.Validation},
		{"RSA algorithm with a symmetric key", encrypt(sym.KeyId, 1, "RSAES_OAEP_SHA_256", nil), wire.InvalidKeyUsage},
		{"RSA algorithm with a signing key", encrypt(signer.KeyId, 1, "RSAES_OAEP_SHA_256", nil), wire.InvalidKeyUsage},
		{"GenerateDataKey", func() error {
			_, err := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: k.KeyId, KeySpec: "AES_256"})
			return err
		}, wire.InvalidKeyUsage},
		{"Decrypt without KeyId", decrypt("", enc.CiphertextBlob, "RSAES_OAEP_SHA_256"), wire.Validation},
		{"Decrypt with the other algorithm", decrypt(k.KeyId, enc.CiphertextBlob, "RSAES_OAEP_SHA_1"), wire.InvalidCiphertext},
		{"Decrypt a changed ciphertext", decrypt(k.KeyId, flipped, "RSAES_OAEP_SHA_256"), wire.InvalidCiphertext},
		{"Decrypt with a symmetric key", decrypt(sym.KeyId, enc.CiphertextBlob, "RSAES_OAEP_SHA_256"), wire.InvalidKeyUsage},
		{"ReEncrypt to the RSA key without its algorithm", func() error {
			blob := e.encrypt(t, sym.KeyId, "x")
			_, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: blob, DestinationKeyId: k.KeyId})
			return err
		}, wire.InvalidKeyUsage},
		{"Decrypt dry run", func() error {
			_, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: k.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256", DryRun: true})
			return err
		}, wire.DryRunOperation},
		{"Sign", func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: k.KeyId, Message: []byte("m"), SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, wire.InvalidKeyUsage},
		{"grant Encrypt Decrypt GetPublicKey", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: k.KeyId, GranteePrincipal: carolARN, Operations: []string{"Encrypt", "Decrypt", "GetPublicKey"}})
			return err
		}, ""},
		{"grant GenerateDataKey", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: k.KeyId, GranteePrincipal: carolARN, Operations: []string{"GenerateDataKey"}})
			return err
		}, wire.Validation},
		{"grant Sign", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: k.KeyId, GranteePrincipal: carolARN, Operations: []string{"Sign"}})
			return err
		}, wire.Validation},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) { wantType(t, tt.call(), tt.want) })
	}
	// The grant made above lets carol encrypt and decrypt.
	carol := as(t, carolARN)
	c, err := e.svc.Encrypt(carol, &kmsv1.EncryptRequest{KeyId: k.Arn, Plaintext: []byte("c"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decrypt(carol, &kmsv1.DecryptRequest{KeyId: k.Arn, CiphertextBlob: c.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}); err != nil {
		t.Fatal(err)
	}
}

// ReEncrypt between symmetric and RSA keys, both ways and RSA to RSA; the
// RSA side needs its algorithm (and, as the source, SourceKeyId) and takes
// no encryption context; the destination's plaintext limit holds.
func TestReEncryptRSA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sym, r1, r2 := e.createKey(t), e.createSpecKey(t, "RSA_2048", "ENCRYPT_DECRYPT"), e.createSpecKey(t, "RSA_3072", "ENCRYPT_DECRYPT")
	ec := map[string]string{"purpose": "wrap"}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: sym.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func(key string, blob []byte, alg string, ec map[string]string) string {
		t.Helper()
		d, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: key, CiphertextBlob: blob, EncryptionAlgorithm: alg, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		return string(d.Plaintext)
	}
	// Symmetric to RSA.
	toRSA, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec,
		DestinationKeyId: r1.KeyId, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if toRSA.KeyId != r1.Arn || toRSA.SourceKeyId != sym.Arn || toRSA.DestinationEncryptionAlgorithm != "RSAES_OAEP_SHA_256" ||
		toRSA.SourceEncryptionAlgorithm != "SYMMETRIC_DEFAULT" || toRSA.DestinationKeyMaterialId != "" || toRSA.SourceKeyMaterialId == "" {
		t.Fatalf("ReEncrypt to RSA = %v", toRSA)
	}
	if got := decrypt(r1.KeyId, toRSA.CiphertextBlob, "RSAES_OAEP_SHA_256", nil); got != "secret" {
		t.Fatalf("decrypted %q", got)
	}
	// RSA to RSA, and RSA back to symmetric.
	rr, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: toRSA.CiphertextBlob, SourceKeyId: r1.KeyId,
		SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationKeyId: r2.Arn, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := decrypt(r2.KeyId, rr.CiphertextBlob, "RSAES_OAEP_SHA_1", nil); got != "secret" {
		t.Fatalf("decrypted %q", got)
	}
	back, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: rr.CiphertextBlob, SourceKeyId: r2.KeyId,
		SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_1", DestinationKeyId: sym.KeyId, DestinationEncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if back.SourceKeyId != r2.Arn || back.DestinationKeyMaterialId == "" || back.SourceKeyMaterialId != "" {
		t.Fatalf("ReEncrypt from RSA = %v", back)
	}
	if got := decrypt("", back.CiphertextBlob, "", ec); got != "secret" {
		t.Fatalf("decrypted %q", got)
	}
	long, _ := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: sym.KeyId, Plaintext: make([]byte, 191)})
	for _, tt := range []struct {
		name string
		req  *kmsv1.ReEncryptRequest
		want string
	}{
		{"RSA source without SourceKeyId", &kmsv1.ReEncryptRequest{CiphertextBlob: toRSA.CiphertextBlob,
			SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationKeyId: sym.KeyId}, wire.Validation},
		{"RSA source with a context", &kmsv1.ReEncryptRequest{CiphertextBlob: toRSA.CiphertextBlob, SourceKeyId: r1.KeyId,
			SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", SourceEncryptionContext: ec, DestinationKeyId: sym.KeyId}, wire.Validation},
		{"RSA destination with a context", &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec,
			DestinationKeyId: r1.KeyId, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationEncryptionContext: ec}, wire.Validation},
		{"RSA source with the wrong algorithm", &kmsv1.ReEncryptRequest{CiphertextBlob: toRSA.CiphertextBlob, SourceKeyId: r1.KeyId,
			SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_1", DestinationKeyId: sym.KeyId}, wire.InvalidCiphertext},
		{"RSA source named by the wrong key", &kmsv1.ReEncryptRequest{CiphertextBlob: toRSA.CiphertextBlob, SourceKeyId: r2.KeyId,
			SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationKeyId: sym.KeyId}, wire.InvalidCiphertext},
		{"plaintext too long for the RSA destination", &kmsv1.ReEncryptRequest{CiphertextBlob: long.CiphertextBlob,
			DestinationKeyId: r1.KeyId, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, wire.Validation},
		{"RSA algorithm for a symmetric source", &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: sym.KeyId,
			SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationKeyId: sym.KeyId}, wire.InvalidKeyUsage},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.ReEncrypt(e.root, tt.req)
			wantType(t, err, tt.want)
		})
	}
}
