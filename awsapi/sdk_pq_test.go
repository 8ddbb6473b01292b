package awsapi_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/asn1"
	"slices"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	dcrecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The AWS SDK creates ML_DSA_65 and ECC_SECG_P256K1 keys, signs, fetches
// the public key and verifies the signature with circl and decred's
// library, verifies through Trent, and decodes AWS's errors for a forged
// signature and a DIGEST message to ML-DSA; signs and verifies a μ with
// MessageType EXTERNAL_MU.
func TestSDKMLDSAAndSecp256k1(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	msg := []byte("a post-quantum release")
	for _, c := range []struct {
		spec   types.KeySpec
		alg    types.SigningAlgorithmSpec
		verify func(t *testing.T, spki, sig []byte) bool
	}{
		{types.KeySpecMlDsa65, types.SigningAlgorithmSpecMlDsaShake256, func(t *testing.T, spki, sig []byte) bool {
			var pk mldsa65.PublicKey
			if err := pk.UnmarshalBinary(subjectPublicKey(t, spki)); err != nil {
				t.Fatal(err)
			}
			return mldsa65.Verify(&pk, msg, nil, sig)
		}},
		{types.KeySpecEccSecgP256k1, types.SigningAlgorithmSpecEcdsaSha256, func(t *testing.T, spki, sig []byte) bool {
			pk, err := secp256k1.ParsePubKey(subjectPublicKey(t, spki))
			if err != nil {
				t.Fatal(err)
			}
			s, err := dcrecdsa.ParseDERSignature(sig)
			d := sha256.Sum256(msg)
			return err == nil && s.Verify(d[:], pk)
		}},
	} {
		k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: c.spec, KeyUsage: types.KeyUsageTypeSignVerify})
		if err != nil {
			t.Fatal(err)
		}
		m := k.KeyMetadata
		if m.KeySpec != c.spec || len(m.SigningAlgorithms) != 1 || m.SigningAlgorithms[0] != c.alg {
			t.Fatalf("CreateKey %s answered %+v", c.spec, m)
		}
		pk, err := e.root.GetPublicKey(ctx, &awskms.GetPublicKeyInput{KeyId: m.KeyId})
		if err != nil || pk.KeySpec != c.spec || len(pk.SigningAlgorithms) != 1 || pk.SigningAlgorithms[0] != c.alg {
			t.Fatalf("GetPublicKey answered %+v, %v", pk, err)
		}
		s, err := e.root.Sign(ctx, &awskms.SignInput{KeyId: m.KeyId, Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: c.alg})
		if err != nil {
			t.Fatal(err)
		}
		if !c.verify(t, pk.PublicKey, s.Signature) {
			t.Fatalf("%s: the library does not verify Trent's signature", c.spec)
		}
		v, err := e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: msg, SigningAlgorithm: c.alg, Signature: s.Signature})
		if err != nil || !v.SignatureValid {
			t.Fatalf("Verify answered %+v, %v", v, err)
		}
		before := e.srv.requests.Load()
		_, err = e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: []byte("forged"), SigningAlgorithm: c.alg, Signature: s.Signature})
		e.wantAPIError(t, err, "KMSInvalidSignatureException", before)
		if c.spec != types.KeySpecMlDsa65 {
			continue
		}
		before = e.srv.requests.Load()
		_, err = e.root.Sign(ctx, &awskms.SignInput{KeyId: m.KeyId, Message: make([]byte, 64), MessageType: types.MessageTypeDigest, SigningAlgorithm: c.alg})
		e.wantAPIError(t, err, "ValidationException", before)
		// EXTERNAL_MU: the client computes μ from the public key and the
		// message; Trent's signature of μ is an ML-DSA signature of the
		// message, and Trent verifies circl's signature of the message
		// given μ.
		tr := sha3.SumSHAKE256(subjectPublicKey(t, pk.PublicKey), 64)
		mu := sha3.SumSHAKE256(slices.Concat(tr, []byte{0, 0}, msg), 64)
		s, err = e.root.Sign(ctx, &awskms.SignInput{KeyId: m.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: c.alg})
		if err != nil {
			t.Fatal(err)
		}
		if !c.verify(t, pk.PublicKey, s.Signature) {
			t.Fatal("circl does not verify Trent's EXTERNAL_MU signature as one of the message")
		}
		v, err = e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: c.alg, Signature: s.Signature})
		if err != nil || !v.SignatureValid {
			t.Fatalf("Verify EXTERNAL_MU answered %+v, %v", v, err)
		}
		mu[0] ^= 1
		before = e.srv.requests.Load()
		_, err = e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: c.alg, Signature: s.Signature})
		e.wantAPIError(t, err, "KMSInvalidSignatureException", before)
		before = e.srv.requests.Load()
		_, err = e.root.Sign(ctx, &awskms.SignInput{KeyId: m.KeyId, Message: mu[:32], MessageType: types.MessageTypeExternalMu, SigningAlgorithm: c.alg})
		e.wantAPIError(t, err, "ValidationException", before)
	}
	before := e.srv.requests.Load()
	_, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: types.KeySpecSm2, KeyUsage: types.KeyUsageTypeSignVerify})
	e.wantAPIError(t, err, "UnsupportedOperationException", before)
}

// subjectPublicKey returns the subjectPublicKey bits of a DER
// SubjectPublicKeyInfo.
func subjectPublicKey(t *testing.T, der []byte) []byte {
	t.Helper()
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) > 0 {
		t.Fatalf("not a SubjectPublicKeyInfo: %v", err)
	}
	return spki.PublicKey.Bytes
}
