package kms_test

import (
	"bytes"
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm/keys"
	"github.com/trentkms/trent/wire"
)

// GenerateDataKeyPair returns a DER SubjectPublicKeyInfo and the matching
// DER PKCS#8 private key, and the private key encrypted under the
// symmetric key with the encryption context (a normal ciphertext that
// Decrypt opens); the WithoutPlaintext twin omits the plaintext.
func TestGenerateDataKeyPair(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := e.createKey(t)
	ec := map[string]string{"purpose": "pair"}
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"} {
		if testing.Short() && (spec == "RSA_3072" || spec == "RSA_4096") {
			continue
		}
		t.Run(spec, func(t *testing.T) {
			r, err := e.svc.GenerateDataKeyPair(e.root, &kmsv1.GenerateDataKeyPairRequest{KeyId: k.KeyId, KeyPairSpec: spec, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if r.KeyId != k.Arn || r.KeyPairSpec != spec || r.KeyMaterialId == "" {
				t.Fatalf("GenerateDataKeyPair = %v", r)
			}
			wantPair(t, r.PublicKey, r.PrivateKeyPlaintext)
			d, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: r.PrivateKeyCiphertextBlob, EncryptionContext: ec})
			if err != nil || !bytes.Equal(d.Plaintext, r.PrivateKeyPlaintext) {
				t.Fatalf("Decrypt of the private key blob: %v", err)
			}
			w, err := e.svc.GenerateDataKeyPairWithoutPlaintext(e.root, &kmsv1.GenerateDataKeyPairWithoutPlaintextRequest{KeyId: k.KeyId, KeyPairSpec: spec, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			d, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: w.PrivateKeyCiphertextBlob, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			wantPair(t, w.PublicKey, d.Plaintext)
		})
	}
	signer, mac := e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY"), e.createSpecKey(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	rsaEnc := e.createSpecKey(t, "RSA_2048", "ENCRYPT_DECRYPT")
	for _, tt := range []struct {
		name, key, spec string
		dry             bool
		want            string
	}{
		{"no spec", k.KeyId, "", false, wire.Validation},
		{"unknown spec", k.KeyId, "RSA_1024", false, wire.Validation},
		{"SM2", k.KeyId, "SM2", false, wire.UnsupportedOperation},
		{"signing key", signer.KeyId, "ECC_NIST_P256", false, wire.InvalidKeyUsage},
		{"HMAC key", mac.KeyId, "ECC_NIST_P256", false, wire.InvalidKeyUsage},
		{"RSA encryption key", rsaEnc.KeyId, "ECC_NIST_P256", false, wire.InvalidKeyUsage},
		{"dry run", k.KeyId, "ECC_NIST_P256", true, wire.DryRunOperation},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.GenerateDataKeyPair(e.root, &kmsv1.GenerateDataKeyPairRequest{KeyId: tt.key, KeyPairSpec: tt.spec, DryRun: tt.dry})
			wantType(t, err, tt.want)
			_, err = e.svc.GenerateDataKeyPairWithoutPlaintext(e.root, &kmsv1.GenerateDataKeyPairWithoutPlaintextRequest{KeyId: tt.key, KeyPairSpec: tt.spec, DryRun: tt.dry})
			wantType(t, err, tt.want)
		})
	}
	// kms:DataKeyPairSpec is the requested spec.
	e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p",
		ident("Allow", `"kms:GenerateDataKeyPair"`, `"*"`, `{"StringEquals":{"kms:DataKeyPairSpec":"ECC_NIST_P256"}}`)))
	if _, err := e.svc.GenerateDataKeyPair(as(t, bobARN), &kmsv1.GenerateDataKeyPairRequest{KeyId: k.KeyId, KeyPairSpec: "ECC_NIST_P256"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GenerateDataKeyPair(as(t, bobARN), &kmsv1.GenerateDataKeyPairRequest{KeyId: k.KeyId, KeyPairSpec: "ECC_NIST_P384"})
	wantType(t, err, wire.AccessDenied)
}

// wantPair checks that priv (PKCS#8) is the private key of pub (SPKI).
func wantPair(t *testing.T, pub, priv []byte) {
	t.Helper()
	k, err := keys.ParsePrivateKey(priv)
	if err != nil {
		t.Fatalf("private key is not PKCS#8: %v", err)
	}
	der, err := keys.MarshalPublicKey(k.Public())
	if err != nil || !bytes.Equal(der, pub) {
		t.Fatalf("the public key is not the private key's: %v", err)
	}
}
