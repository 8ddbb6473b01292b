package kms_test

import (
	"errors"
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// The signing and MAC condition keys reach policies (reference 3.4): each
// case gives bob one identity policy (the default key policy delegates to
// the account) and makes one call as bob.
func TestSigningConditionKeys(t *testing.T) {
	t.Parallel()
	const (
		pssDigest = `{"StringEquals":{"kms:SigningAlgorithm":"RSASSA_PSS_SHA_256","kms:MessageType":"DIGEST"}}`
		rawOnly   = `{"StringEquals":{"kms:MessageType":"RAW"}}`
		mac256    = `{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_256"}}`
		mac512    = `{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_512"}}`
		specP256  = `{"StringEquals":{"kms:KeySpec":"ECC_NIST_P256","kms:KeyUsage":"SIGN_VERIFY"}}`
		hmacKeys  = `{"StringLike":{"kms:KeySpec":"HMAC_*"}}`
	)
	type fixture struct {
		e         *env
		rsa, hmac *kmsv1.KeyMetadata
	}
	d := digest("RSASSA_PSS_SHA_256", []byte("m"))
	sign := func(alg, mt string, msg []byte) func(f fixture) error {
		return func(f fixture) error {
			_, err := f.e.svc.Sign(as(t, bobARN), &kmsv1.SignRequest{KeyId: f.rsa.KeyId, Message: msg, MessageType: mt, SigningAlgorithm: alg})
			return err
		}
	}
	verify := func(mt string) func(f fixture) error {
		return func(f fixture) error {
			msg := []byte("m")
			if mt == "DIGEST" {
				msg = d
			}
			s, err := f.e.svc.Sign(f.e.root, &kmsv1.SignRequest{KeyId: f.rsa.KeyId, Message: msg, MessageType: mt, SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			if err != nil {
				return err
			}
			_, err = f.e.svc.Verify(as(t, bobARN), &kmsv1.VerifyRequest{KeyId: f.rsa.KeyId, Message: msg, MessageType: mt,
				SigningAlgorithm: "RSASSA_PSS_SHA_256", Signature: s.Signature})
			return err
		}
	}
	mac := func(f fixture) error {
		_, err := f.e.svc.GenerateMac(as(t, bobARN), &kmsv1.GenerateMacRequest{KeyId: f.hmac.KeyId, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
		return err
	}
	verifyMac := func(f fixture) error {
		g, err := f.e.svc.GenerateMac(f.e.root, &kmsv1.GenerateMacRequest{KeyId: f.hmac.KeyId, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
		if err != nil {
			return err
		}
		_, err = f.e.svc.VerifyMac(as(t, bobARN), &kmsv1.VerifyMacRequest{KeyId: f.hmac.KeyId, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256", Mac: g.Mac})
		return err
	}
	createKey := func(spec, usage string) func(f fixture) error {
		return func(f fixture) error {
			_, err := f.e.svc.CreateKey(as(t, bobARN), &kmsv1.CreateKeyRequest{KeySpec: spec, KeyUsage: usage})
			return err
		}
	}
	publicKey := func(f fixture) error {
		_, err := f.e.svc.GetPublicKey(as(t, bobARN), &kmsv1.GetPublicKeyRequest{KeyId: f.rsa.KeyId})
		return err
	}
	tests := []struct {
		name, action, cond string
		call               func(f fixture) error
		want               string
	}{
		{"Sign algorithm and digest allowed", "kms:Sign", pssDigest, sign("RSASSA_PSS_SHA_256", "DIGEST", d), ""},
		{"Sign RAW refused", "kms:Sign", pssDigest, sign("RSASSA_PSS_SHA_256", "RAW", []byte("m")), wire.AccessDenied},
		{"Sign message type defaults to RAW", "kms:Sign", rawOnly, sign("RSASSA_PSS_SHA_256", "", []byte("m")), ""},
		{"Sign other algorithm refused", "kms:Sign", pssDigest, sign("RSASSA_PKCS1_V1_5_SHA_256", "DIGEST", d), wire.AccessDenied},
		{"Verify algorithm and digest allowed", "kms:Verify", pssDigest, verify("DIGEST"), ""},
		{"Verify RAW refused", "kms:Verify", pssDigest, verify("RAW"), wire.AccessDenied},
		{"GenerateMac algorithm allowed", "kms:GenerateMac", mac256, mac, ""},
		{"GenerateMac other algorithm refused", "kms:GenerateMac", mac512, mac, wire.AccessDenied},
		{"VerifyMac algorithm allowed", "kms:VerifyMac", mac256, verifyMac, ""},
		{"VerifyMac other algorithm refused", "kms:VerifyMac", mac512, verifyMac, wire.AccessDenied},
		{"CreateKey KeySpec and KeyUsage allowed", "kms:CreateKey", specP256, createKey("ECC_NIST_P256", "SIGN_VERIFY"), ""},
		{"CreateKey other KeySpec refused", "kms:CreateKey", specP256, createKey("ECC_NIST_P384", "SIGN_VERIFY"), wire.AccessDenied},
		{"CreateKey HMAC KeySpec allowed", "kms:CreateKey", hmacKeys, createKey("HMAC_384", "GENERATE_VERIFY_MAC"), ""},
		{"CreateKey symmetric refused", "kms:CreateKey", hmacKeys, createKey("", ""), wire.AccessDenied},
		{"GetPublicKey KeySpec of the key", "kms:GetPublicKey", `{"StringEquals":{"kms:KeySpec":"RSA_2048","kms:KeyUsage":"SIGN_VERIFY"}}`, publicKey, ""},
		{"GetPublicKey other KeySpec refused", "kms:GetPublicKey", specP256, publicKey, wire.AccessDenied},
		{"GenerateMac KeySpec of the key", "kms:GenerateMac", hmacKeys, mac, ""},
	}
	e := newEnv(t)
	f := fixture{e: e, rsa: e.createSpecKey(t, "RSA_2048", "SIGN_VERIFY"), hmac: e.createSpecKey(t, "HMAC_256", "GENERATE_VERIFY_MAC")}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"`+tt.action+`"`, `"*"`, tt.cond)))
			wantType(t, tt.call(f), tt.want)
		})
	}
}

// Grants allow Sign, Verify, GetPublicKey, GenerateMac and VerifyMac,
// each only the operations they list.
func TestAsymmetricGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sk, mk := e.createSpecKey(t, "ECC_NIST_P256", "SIGN_VERIFY"), e.createSpecKey(t, "HMAC_512", "GENERATE_VERIFY_MAC")
	carol := as(t, carolARN)
	sign := func() error {
		_, err := e.svc.Sign(carol, &kmsv1.SignRequest{KeyId: sk.Arn, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
		return err
	}
	verify := func() error {
		s, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: sk.Arn, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
		if err != nil {
			return err
		}
		_, err = e.svc.Verify(carol, &kmsv1.VerifyRequest{KeyId: sk.Arn, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256", Signature: s.Signature})
		return err
	}
	publicKey := func() error {
		_, err := e.svc.GetPublicKey(carol, &kmsv1.GetPublicKeyRequest{KeyId: sk.Arn})
		return err
	}
	mac := func() error {
		_, err := e.svc.GenerateMac(carol, &kmsv1.GenerateMacRequest{KeyId: mk.Arn, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_512"})
		return err
	}
	verifyMac := func() error {
		g, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: mk.Arn, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_512"})
		if err != nil {
			return err
		}
		_, err = e.svc.VerifyMac(carol, &kmsv1.VerifyMacRequest{KeyId: mk.Arn, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_512", Mac: g.Mac})
		return err
	}
	calls := map[string]func() error{"Sign": sign, "Verify": verify, "GetPublicKey": publicKey, "GenerateMac": mac, "VerifyMac": verifyMac}
	want := func(allowed ...string) {
		t.Helper()
		for name, call := range calls {
			w := wire.AccessDenied
			for _, a := range allowed {
				if a == name {
					w = ""
				}
			}
			if err := call(); w == "" && err != nil || w != "" && !isType(err, w) {
				t.Fatalf("%s as carol: %v, want %q", name, err, w)
			}
		}
	}
	want()
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: sk.KeyId, GranteePrincipal: carolARN, Operations: []string{"Sign"}})
	want("Sign")
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: sk.KeyId, GranteePrincipal: carolARN, Operations: []string{"Verify", "GetPublicKey"}})
	want("Sign", "Verify", "GetPublicKey")
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: mk.KeyId, GranteePrincipal: carolARN, Operations: []string{"GenerateMac"}})
	want("Sign", "Verify", "GetPublicKey", "GenerateMac")
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: mk.KeyId, GranteePrincipal: carolARN, Operations: []string{"VerifyMac"}})
	want("Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac")
}

func isType(err error, typ string) bool {
	var ke *wire.Error
	return errors.As(err, &ke) && ke.Type == typ
}

// kms:EncryptionAlgorithm is the request's RSA algorithm for Encrypt and
// Decrypt with an RSA key.
func TestRSAEncryptionAlgorithmConditionKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := e.createSpecKey(t, "RSA_2048", "ENCRYPT_DECRYPT")
	e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p",
		ident("Allow", `["kms:Encrypt","kms:Decrypt"]`, `"*"`, `{"StringEquals":{"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}`)))
	bob := as(t, bobARN)
	enc, err := e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decrypt(bob, &kmsv1.DecryptRequest{KeyId: k.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
	wantType(t, err, wire.AccessDenied)
}
