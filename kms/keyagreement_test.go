package kms_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// DeriveSharedSecret gives the secret crypto/ecdh derives on the other
// side from the peer's private key and GetPublicKey's output, for every
// NIST curve; every mismatch answers AWS's error.
func TestDeriveSharedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for spec, curve := range map[string]ecdh.Curve{"ECC_NIST_P256": ecdh.P256(), "ECC_NIST_P384": ecdh.P384(), "ECC_NIST_P521": ecdh.P521()} {
		k := e.createSpecKey(t, spec, "KEY_AGREEMENT")
		if !slices.Equal(k.KeyAgreementAlgorithms, []string{"ECDH"}) || len(k.EncryptionAlgorithms)+len(k.SigningAlgorithms) != 0 {
			t.Fatalf("metadata = %v", k)
		}
		pk, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: k.KeyId})
		if err != nil || !slices.Equal(pk.KeyAgreementAlgorithms, []string{"ECDH"}) {
			t.Fatalf("GetPublicKey = %v, %v", pk, err)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		theirs, _ := pub.(*ecdsa.PublicKey).ECDH()
		peer, _ := curve.GenerateKey(rand.Reader)
		peerDER, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := peer.ECDH(theirs)
		r, err := e.svc.DeriveSharedSecret(e.root, &kmsv1.DeriveSharedSecretRequest{KeyId: k.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: peerDER})
		if err != nil || !bytes.Equal(r.SharedSecret, want) || r.KeyId != k.Arn || r.KeyOrigin != "AWS_KMS" || r.KeyAgreementAlgorithm != "ECDH" {
			t.Fatalf("%s: DeriveSharedSecret = %v, %v", spec, r, err)
		}
	}
	k := e.createSpecKey(t, "ECC_NIST_P256", "KEY_AGREEMENT")
	signer := e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY")
	p384, _ := ecdh.P384().GenerateKey(rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.PublicKey())
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	p256DER, _ := x509.MarshalPKIXPublicKey(p256.PublicKey())
	derive := func(key, alg string, pub []byte, dry bool) func() error {
		return func() error {
			_, err := e.svc.DeriveSharedSecret(e.root, &kmsv1.DeriveSharedSecretRequest{KeyId: key, KeyAgreementAlgorithm: alg, PublicKey: pub, DryRun: dry})
			return err
		}
	}
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"peer on another curve", derive(k.KeyId, "ECDH", p384DER, false), wire.Validation},
		{"peer not DER", derive(k.KeyId, "ECDH", []byte("not a key"), false), wire.Validation},
		{"no peer", derive(k.KeyId, "ECDH", nil, false), wire.Validation},
		{"unknown algorithm", derive(k.KeyId, "DH", p256DER, false), wire.Validation},
		{"no algorithm", derive(k.KeyId, "", p256DER, false), wire.Validation},
		{"signing key", derive(signer.KeyId, "ECDH", p256DER, false), wire.InvalidKeyUsage},
		{"dry run", derive(k.KeyId, "ECDH", p256DER, true), wire.DryRunOperation},
		{"Sign with the agreement key", func() error {
			_, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: k.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}, wire.InvalidKeyUsage},
		{"grant DeriveSharedSecret", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: k.KeyId, GranteePrincipal: carolARN, Operations: []string{"DeriveSharedSecret", "GetPublicKey"}})
			return err
		}, ""},
		{"grant Sign", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: k.KeyId, GranteePrincipal: carolARN, Operations: []string{"Sign"}})
			return err
		}, wire.Validation},
		{"grant DeriveSharedSecret on a signing key", func() error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: signer.KeyId, GranteePrincipal: carolARN, Operations: []string{"DeriveSharedSecret"}})
			return err
		}, wire.Validation},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) { wantType(t, tt.call(), tt.want) })
	}
	// The grant above lets carol derive; kms:KeyAgreementAlgorithm is ECDH.
	if _, err := e.svc.DeriveSharedSecret(as(t, carolARN), &kmsv1.DeriveSharedSecretRequest{KeyId: k.Arn, KeyAgreementAlgorithm: "ECDH", PublicKey: p256DER}); err != nil {
		t.Fatal(err)
	}
	e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p",
		ident("Allow", `"kms:DeriveSharedSecret"`, `"*"`, `{"StringEquals":{"kms:KeyAgreementAlgorithm":"ECDH"}}`)))
	if _, err := e.svc.DeriveSharedSecret(as(t, bobARN), &kmsv1.DeriveSharedSecretRequest{KeyId: k.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: p256DER}); err != nil {
		t.Fatal(err)
	}
}
