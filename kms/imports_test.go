package kms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
	"github.com/trentkms/trent/wire"
)

// importEnv is an env with a settable clock and 24-hour days.
func importEnv(t *testing.T) (*env, *time.Time) {
	now := time.UnixMilli(1_700_000_000_000)
	return clockEnv(t, &now, 24*time.Hour), &now
}

func (e *env) createExternal(t testing.TB, spec, usage string) *kmsv1.KeyMetadata {
	t.Helper()
	r, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{KeySpec: spec, KeyUsage: usage, Origin: "EXTERNAL"})
	if err != nil {
		t.Fatalf("CreateKey EXTERNAL %s: %v", spec, err)
	}
	return r.KeyMetadata
}

func (e *env) params(t testing.TB, keyID, alg string) *kmsv1.GetParametersForImportResponse {
	t.Helper()
	p, err := e.svc.GetParametersForImport(e.root, &kmsv1.GetParametersForImportRequest{KeyId: keyID, WrappingAlgorithm: alg, WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatalf("GetParametersForImport: %v", err)
	}
	return p
}

// wrapFor encrypts material as a client would, with the parameters'
// public key and algorithm.
func wrapFor(t testing.TB, p *kmsv1.GetParametersForImportResponse, alg string, material []byte) []byte {
	t.Helper()
	a, _ := hsm.ParseWrappingAlgorithm(alg)
	b, err := keywrap.ForImport(rand.Reader, p.PublicKey, a, material)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noExpiry(keyID string, p *kmsv1.GetParametersForImportResponse, enc []byte) *kmsv1.ImportKeyMaterialRequest {
	return &kmsv1.ImportKeyMaterialRequest{KeyId: keyID, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc,
		ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}
}

// importMaterial imports material into keyID with alg.
func (e *env) importMaterial(t testing.TB, keyID, alg string, material []byte) {
	t.Helper()
	p := e.params(t, keyID, alg)
	if _, err := e.svc.ImportKeyMaterial(e.root, noExpiry(keyID, p, wrapFor(t, p, alg, material))); err != nil {
		t.Fatalf("ImportKeyMaterial: %v", err)
	}
}

// A symmetric key of origin EXTERNAL: pending import without material;
// material imported with every wrapping algorithm encrypts and decrypts;
// deleted, the key is pending import and its ciphertexts wait; the same
// material imported again decrypts them; other material is refused.
func TestImportSymmetricKeyMaterial(t *testing.T) {
	t.Parallel()
	e, _ := importEnv(t)
	material := bytes.Repeat([]byte{0x5a}, 32)
	for _, alg := range []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"} {
		t.Run(alg, func(t *testing.T) {
			m := e.createExternal(t, "", "")
			if m.KeyState != "PendingImport" || m.Origin != "EXTERNAL" || m.Enabled || m.CurrentKeyMaterialId != "" || m.ExpirationModel != "" {
				t.Fatalf("new EXTERNAL key: %v", m)
			}
			_, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")})
			wantError(t, err, wire.KMSInvalidState, m.Arn+" is pending import.")

			p := e.params(t, m.KeyId, alg)
			if p.KeyId != m.Arn || p.ParametersValidTo != 1_700_000_000+86400 {
				t.Fatalf("parameters: key %s, valid to %v", p.KeyId, p.ParametersValidTo)
			}
			r, err := e.svc.ImportKeyMaterial(e.root, noExpiry(m.KeyId, p, wrapFor(t, p, alg, material)))
			if err != nil {
				t.Fatal(err)
			}
			d := e.describe(t, m.KeyId)
			if d.KeyState != "Enabled" || d.ExpirationModel != "KEY_MATERIAL_DOES_NOT_EXPIRE" || d.ValidTo != nil ||
				d.CurrentKeyMaterialId != r.KeyMaterialId || len(r.KeyMaterialId) != 64 {
				t.Fatalf("after import: %v; response %v", d, r)
			}
			enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("secret")})
			if err != nil {
				t.Fatal(err)
			}

			if _, err := e.svc.DeleteImportedKeyMaterial(e.root, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: m.KeyId}); err != nil {
				t.Fatal(err)
			}
			if d := e.describe(t, m.KeyId); d.KeyState != "PendingImport" || d.ExpirationModel != "" {
				t.Fatalf("after delete: %v", d)
			}
			_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			wantError(t, err, wire.KMSInvalidState, m.Arn+" is pending import.")

			other := bytes.Repeat([]byte{0xa5}, 32)
			p = e.params(t, m.KeyId, alg)
			_, err = e.svc.ImportKeyMaterial(e.root, noExpiry(m.KeyId, p, wrapFor(t, p, alg, other)))
			wantError(t, err, wire.IncorrectKeyMaterial, "The key material is not the key material previously imported into "+m.Arn+".")

			again, err := e.svc.ImportKeyMaterial(e.root, noExpiry(m.KeyId, p, wrapFor(t, p, alg, material)))
			if err != nil || again.KeyMaterialId != r.KeyMaterialId {
				t.Fatalf("re-import: %v, %v", again, err)
			}
			dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "secret" {
				t.Fatalf("Decrypt after re-import: %v", err)
			}
		})
	}
}

// Imported HMAC keys (longer than the digest, as AWS allows) MAC as
// crypto/hmac does with the material; imported key pairs sign and decrypt
// as the client's own private key, and GetPublicKey is its public key.
func TestImportHMACAndKeyPairs(t *testing.T) {
	t.Parallel()
	e, _ := importEnv(t)
	t.Run("HMAC_256", func(t *testing.T) {
		key := bytes.Repeat([]byte{7}, 48)
		m := e.createExternal(t, "HMAC_256", "GENERATE_VERIFY_MAC")
		e.importMaterial(t, m.KeyId, "RSAES_OAEP_SHA_256", key)
		g, err := e.svc.GenerateMac(e.root, &kmsv1.GenerateMacRequest{KeyId: m.KeyId, Message: []byte("msg"), MacAlgorithm: "HMAC_SHA_256"})
		want := hmac.New(sha256.New, key)
		want.Write([]byte("msg"))
		if err != nil || !bytes.Equal(g.Mac, want.Sum(nil)) {
			t.Fatalf("GenerateMac = %x, %v", g.GetMac(), err)
		}
	})
	t.Run("ECC_NIST_P256", func(t *testing.T) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		m := e.createExternal(t, "ECC_NIST_P256", "SIGN_VERIFY")
		_, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: m.KeyId})
		wantError(t, err, wire.KMSInvalidState, m.Arn+" is pending import.")
		e.importMaterial(t, m.KeyId, "RSA_AES_KEY_WRAP_SHA_256", der)
		pk, err := e.svc.GetPublicKey(e.root, &kmsv1.GetPublicKeyRequest{KeyId: m.KeyId})
		want, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil || !bytes.Equal(pk.PublicKey, want) {
			t.Fatalf("GetPublicKey: %v", err)
		}
		s, err := e.svc.Sign(e.root, &kmsv1.SignRequest{KeyId: m.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256([]byte("m"))
		if !ecdsa.VerifyASN1(&priv.PublicKey, d[:], s.Signature) {
			t.Fatal("the signature does not verify with the imported key's public key")
		}
	})
	t.Run("RSA_2048", func(t *testing.T) {
		priv, _ := rsa.GenerateKey(rand.Reader, 2048)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		m := e.createExternal(t, "RSA_2048", "ENCRYPT_DECRYPT")
		e.importMaterial(t, m.KeyId, "RSA_AES_KEY_WRAP_SHA_1", der)
		ct, _ := rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, &priv.PublicKey, []byte("hi"), nil)
		d, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: m.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
		if err != nil || string(d.Plaintext) != "hi" {
			t.Fatalf("Decrypt: %v", err)
		}
	})
}

// Every bad request gets AWS's error and changes nothing.
func TestImportErrors(t *testing.T) {
	t.Parallel()
	e, now := importEnv(t)
	ext := e.createExternal(t, "", "")
	other := e.createExternal(t, "", "")
	hmacKey := e.createExternal(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	native := e.createKey(t)
	pending := e.createExternal(t, "", "")
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: pending.KeyId, DeletionDate: 1 << 50, PendingWindowInDays: 7})
	material := bytes.Repeat([]byte{1}, 32)

	p := e.params(t, ext.KeyId, "RSAES_OAEP_SHA_256")
	good := wrapFor(t, p, "RSAES_OAEP_SHA_256", material)
	pOther := e.params(t, other.KeyId, "RSAES_OAEP_SHA_256")
	tampered := bytes.Clone(p.ImportToken)
	tampered[40] ^= 1
	imp := func(keyID string, token, enc []byte, mod func(*kmsv1.ImportKeyMaterialRequest)) func() error {
		return func() error {
			r := noExpiry(keyID, &kmsv1.GetParametersForImportResponse{ImportToken: token}, enc)
			if mod != nil {
				mod(r)
			}
			_, err := e.svc.ImportKeyMaterial(e.root, r)
			return err
		}
	}
	params := func(keyID, alg, spec string) func() error {
		return func() error {
			_, err := e.svc.GetParametersForImport(e.root, &kmsv1.GetParametersForImportRequest{KeyId: keyID, WrappingAlgorithm: alg, WrappingKeySpec: spec})
			return err
		}
	}
	validTo := func(d time.Duration) *float64 { v := float64(now.Add(d).UnixMilli()) / 1000; return &v }
	expires := func(d time.Duration) func(*kmsv1.ImportKeyMaterialRequest) {
		return func(r *kmsv1.ImportKeyMaterialRequest) { r.ExpirationModel, r.ValidTo = "", validTo(d) }
	}
	notValid := "The import token is not valid for " + ext.Arn + "."
	for _, tc := range []struct {
		name, typ, msg string
		call           func() error
	}{
		{"params without algorithm", wire.Validation, "1 validation error detected: Value null at 'wrappingAlgorithm' failed to satisfy constraint: Member must not be null", params(ext.KeyId, "", "RSA_2048")},
		{"params with an unknown algorithm", wire.Validation, "", params(ext.KeyId, "RSA_OAEP", "RSA_2048")},
		{"params without key spec", wire.Validation, "", params(ext.KeyId, "RSAES_OAEP_SHA_1", "")},
		{"params with an unknown key spec", wire.Validation, "", params(ext.KeyId, "RSAES_OAEP_SHA_1", "RSA_1024")},
		{"params PKCS1 v1.5", wire.UnsupportedOperation, "", params(ext.KeyId, "RSAES_PKCS1_V1_5", "RSA_2048")},
		{"params SM2", wire.UnsupportedOperation, "", params(ext.KeyId, "SM2PKE", "SM2")},
		{"params for an AWS_KMS key", wire.UnsupportedOperation, native.Arn + " origin is AWS_KMS which is not valid for this operation.", params(native.KeyId, "RSAES_OAEP_SHA_1", "RSA_2048")},
		{"params for a key pending deletion", wire.KMSInvalidState, pending.Arn + " is pending deletion.", params(pending.KeyId, "RSAES_OAEP_SHA_1", "RSA_2048")},
		{"params for a missing key", wire.NotFound, "", params("11111111-2222-3333-4444-555555555555", "RSAES_OAEP_SHA_1", "RSA_2048")},
		{"params by alias", wire.InvalidArn, "", params("alias/x", "RSAES_OAEP_SHA_1", "RSA_2048")},
		{"import without token", wire.Validation, "", imp(ext.KeyId, nil, good, nil)},
		{"import without material", wire.Validation, "", imp(ext.KeyId, p.ImportToken, nil, nil)},
		{"import with another key's token", wire.InvalidImportToken, notValid, imp(ext.KeyId, pOther.ImportToken, good, nil)},
		{"import with a tampered token", wire.InvalidImportToken, notValid, imp(ext.KeyId, tampered, good, nil)},
		{"import with garbage for a token", wire.InvalidImportToken, notValid, imp(ext.KeyId, []byte("garbage"), good, nil)},
		{"import with a truncated token", wire.InvalidImportToken, notValid, imp(ext.KeyId, p.ImportToken[:len(p.ImportToken)-1], good, nil)},
		{"import material for another wrapping key", wire.InvalidCiphertext, "", imp(ext.KeyId, p.ImportToken, wrapFor(t, pOther, "RSAES_OAEP_SHA_256", material), nil)},
		{"import material wrapped with another algorithm", wire.InvalidCiphertext, "", imp(ext.KeyId, p.ImportToken, wrapFor(t, p, "RSAES_OAEP_SHA_1", material), nil)},
		{"import a 16-byte symmetric key", wire.IncorrectKeyMaterial, "The key material is not a valid SYMMETRIC_DEFAULT key.", imp(ext.KeyId, p.ImportToken, wrapFor(t, p, "RSAES_OAEP_SHA_256", material[:16]), nil)},
		{"import a short HMAC key", wire.IncorrectKeyMaterial, "", func() error {
			hp := e.params(t, hmacKey.KeyId, "RSAES_OAEP_SHA_256")
			return imp(hmacKey.KeyId, hp.ImportToken, wrapFor(t, hp, "RSAES_OAEP_SHA_256", material[:31]), nil)()
		}},
		{"import expiring without ValidTo", wire.Validation, "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.ExpirationModel = "" })},
		{"import not expiring with ValidTo", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.ValidTo = validTo(time.Hour) })},
		{"import ValidTo in the past", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, expires(-time.Second))},
		{"import ValidTo in 10 minutes", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, expires(10*time.Minute))},
		{"import ValidTo after 365 days", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, expires(366*24*time.Hour))},
		{"import unknown expiration model", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.ExpirationModel = "NEVER" })},
		{"import unknown import type", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.ImportType = "OTHER" })},
		{"import short key material id", wire.Validation, "", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.KeyMaterialId = "abc" })},
		{"import unknown key material id", wire.NotFound, "", imp(ext.KeyId, p.ImportToken, good, func(r *kmsv1.ImportKeyMaterialRequest) { r.KeyMaterialId = strings.Repeat("a", 64) })},
		{"import into an AWS_KMS key", wire.UnsupportedOperation, native.Arn + " origin is AWS_KMS which is not valid for this operation.", imp(native.KeyId, p.ImportToken, good, nil)},
		{"import into a key pending deletion", wire.KMSInvalidState, pending.Arn + " is pending deletion.", imp(pending.KeyId, p.ImportToken, good, nil)},
		{"import as bob", wire.AccessDenied, "", func() error {
			_, err := e.svc.ImportKeyMaterial(e.bob, noExpiry(ext.KeyId, p, good))
			return err
		}},
		{"delete from an AWS_KMS key", wire.UnsupportedOperation, native.Arn + " origin is AWS_KMS which is not valid for this operation.", func() error {
			_, err := e.svc.DeleteImportedKeyMaterial(e.root, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: native.KeyId})
			return err
		}},
		{"delete with a short key material id", wire.Validation, "", func() error {
			_, err := e.svc.DeleteImportedKeyMaterial(e.root, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: ext.KeyId, KeyMaterialId: "x"})
			return err
		}},
		{"import with an expired token", wire.ExpiredImportToken, "", func() error {
			*now = now.Add(24 * time.Hour)
			defer func() { *now = now.Add(-24 * time.Hour) }()
			return imp(ext.KeyId, p.ImportToken, good, nil)()
		}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			before := e.fsm.AppliedIndex()
			err := tc.call()
			wantType(t, err, tc.typ)
			if tc.msg != "" {
				wantError(t, err, tc.typ, tc.msg)
			}
			if e.fsm.AppliedIndex() != before {
				t.Fatal("a refused request changed the state")
			}
		})
	}
	if d := e.describe(t, ext.KeyId); d.KeyState != "PendingImport" {
		t.Fatalf("after the refusals the key is %s", d.KeyState)
	}
	// The token still works: nothing above spent it.
	if _, err := e.svc.ImportKeyMaterial(e.root, noExpiry(ext.KeyId, p, good)); err != nil {
		t.Fatal(err)
	}
	// Importing new material into a key that had some is rotation.
	_, err := e.svc.ImportKeyMaterial(e.root, &kmsv1.ImportKeyMaterialRequest{KeyId: ext.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: good, ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType: "NEW_KEY_MATERIAL"})
	wantType(t, err, wire.UnsupportedOperation)
}

// Material with a ValidTo expires: the leader's task proposes its
// deletion only once ValidTo has passed, the key is then pending import,
// and the same material imported again brings its ciphertexts back.
func TestImportedMaterialExpires(t *testing.T) {
	t.Parallel()
	e, now := importEnv(t)
	m := e.createExternal(t, "", "")
	material := bytes.Repeat([]byte{9}, 32)
	p := e.params(t, m.KeyId, "RSAES_OAEP_SHA_1")
	validTo := float64(now.Add(48*time.Hour).UnixMilli()) / 1000
	_, err := e.svc.ImportKeyMaterial(e.root, &kmsv1.ImportKeyMaterialRequest{KeyId: m.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapFor(t, p, "RSAES_OAEP_SHA_1", material), ValidTo: &validTo})
	if err != nil {
		t.Fatal(err)
	}
	d := e.describe(t, m.KeyId)
	if d.ExpirationModel != "KEY_MATERIAL_EXPIRES" || d.ValidTo == nil || *d.ValidTo != validTo {
		t.Fatalf("metadata: %v", d)
	}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	k := mustKey(t, e, m.KeyId)
	due := now.Add(48 * time.Hour)
	for _, at := range []time.Time{*now, due.Add(-time.Millisecond)} {
		if c, err := e.svc.DueImportExpiry(context.Background(), k, at); c != nil || err != nil {
			t.Fatalf("DueImportExpiry at %v: %v, %v", at, c, err)
		}
	}
	if c, _ := e.svc.DueImportExpiry(context.Background(), mustKey(t, e, e.createKey(t).KeyId), due.Add(time.Hour)); c != nil {
		t.Fatalf("DueImportExpiry of an AWS_KMS key: %v", c)
	}
	c, err := e.svc.DueImportExpiry(context.Background(), k, due)
	if err != nil || c == nil || c.Op() != fsm.OpDeleteExpiredKeyMaterial {
		t.Fatalf("DueImportExpiry at ValidTo: %v, %v", c, err)
	}
	e.apply(t, c)
	if d := e.describe(t, m.KeyId); d.KeyState != "PendingImport" || d.ValidTo != nil {
		t.Fatalf("after expiry: %v", d)
	}
	_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	wantError(t, err, wire.KMSInvalidState, m.Arn+" is pending import.")
	if _, _, err := fsm.Apply(context.Background(), e.log, c); err == nil {
		t.Fatal("a second DeleteExpiredKeyMaterial applied")
	}
	*now = due
	e.importMaterial(t, m.KeyId, "RSAES_OAEP_SHA_1", material)
	if dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "s" {
		t.Fatalf("Decrypt after re-import: %v", err)
	}
}

// kms:WrappingAlgorithm, kms:WrappingKeySpec, kms:ExpirationModel,
// kms:ValidTo and kms:KeyOrigin reach policies (reference 3.4).
func TestImportConditionKeys(t *testing.T) {
	t.Parallel()
	e, now := importEnv(t)
	m := e.createExternal(t, "", "")
	material := bytes.Repeat([]byte{3}, 32)
	params := func(alg, spec string) func() error {
		return func() error {
			_, err := e.svc.GetParametersForImport(as(t, bobARN), &kmsv1.GetParametersForImportRequest{KeyId: m.KeyId, WrappingAlgorithm: alg, WrappingKeySpec: spec})
			return err
		}
	}
	p := e.params(t, m.KeyId, "RSAES_OAEP_SHA_256")
	enc := wrapFor(t, p, "RSAES_OAEP_SHA_256", material)
	imp := func(model string, in time.Duration) func() error {
		return func() error {
			r := &kmsv1.ImportKeyMaterialRequest{KeyId: m.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: model}
			if in != 0 {
				v := float64(now.Add(in).UnixMilli()) / 1000
				r.ValidTo = &v
			}
			_, err := e.svc.ImportKeyMaterial(as(t, bobARN), r)
			return err
		}
	}
	createExternal := func() error {
		_, err := e.svc.CreateKey(as(t, bobARN), &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
		return err
	}
	// 30 days from now, in seconds and as a date.
	const validToMax, validToMaxDate = "1702592000", "2023-12-14T22:13:20Z"
	for _, tc := range []struct {
		name, action, cond string
		call               func() error
		want               string
	}{
		{"wrapping algorithm allowed", "kms:GetParametersForImport", `{"StringEquals":{"kms:WrappingAlgorithm":"RSA_AES_KEY_WRAP_SHA_256"}}`, params("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"), ""},
		{"other wrapping algorithm refused", "kms:GetParametersForImport", `{"StringEquals":{"kms:WrappingAlgorithm":"RSA_AES_KEY_WRAP_SHA_256"}}`, params("RSAES_OAEP_SHA_1", "RSA_2048"), wire.AccessDenied},
		{"wrapping key spec allowed", "kms:GetParametersForImport", `{"StringEquals":{"kms:WrappingKeySpec":"RSA_2048"}}`, params("RSAES_OAEP_SHA_1", "RSA_2048"), ""},
		{"other wrapping key spec refused", "kms:GetParametersForImport", `{"StringEquals":{"kms:WrappingKeySpec":"RSA_4096"}}`, params("RSAES_OAEP_SHA_1", "RSA_2048"), wire.AccessDenied},
		{"expiration model refused", "kms:ImportKeyMaterial", `{"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_EXPIRES"}}`, imp("KEY_MATERIAL_DOES_NOT_EXPIRE", 0), wire.AccessDenied},
		{"ValidTo too late (numeric)", "kms:ImportKeyMaterial", `{"NumericLessThanEquals":{"kms:ValidTo":"` + validToMax + `"}}`, imp("", 31*24*time.Hour), wire.AccessDenied},
		{"ValidTo too late (date)", "kms:ImportKeyMaterial", `{"DateLessThanEquals":{"kms:ValidTo":"` + validToMaxDate + `"}}`, imp("", 31*24*time.Hour), wire.AccessDenied},
		{"no ValidTo for material that does not expire", "kms:ImportKeyMaterial", `{"NumericLessThanEquals":{"kms:ValidTo":"` + validToMax + `"}}`, imp("KEY_MATERIAL_DOES_NOT_EXPIRE", 0), wire.AccessDenied},
		{"ValidTo in time (date)", "kms:ImportKeyMaterial", `{"DateLessThanEquals":{"kms:ValidTo":"` + validToMaxDate + `"}}`, imp("", 29*24*time.Hour), ""},
		{"ValidTo in time (numeric) and the model", "kms:ImportKeyMaterial", `{"NumericLessThanEquals":{"kms:ValidTo":"` + validToMax + `"},"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_EXPIRES"}}`, imp("", 29*24*time.Hour), ""},
		{"CreateKey origin EXTERNAL allowed", "kms:CreateKey", `{"StringEquals":{"kms:KeyOrigin":"EXTERNAL"}}`, createExternal, ""},
		{"CreateKey origin EXTERNAL refused", "kms:CreateKey", `{"StringEquals":{"kms:KeyOrigin":"AWS_KMS"}}`, createExternal, wire.AccessDenied},
		{"key origin of the key", "kms:GetParametersForImport", `{"StringEquals":{"kms:KeyOrigin":"EXTERNAL"}}`, params("RSAES_OAEP_SHA_1", "RSA_2048"), ""},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"`+tc.action+`"`, `"*"`, tc.cond)))
			wantType(t, tc.call(), tc.want)
		})
	}
}

// GetParametersForImport is dominated by generating the RSA wrapping key
// in the HSM; ImportKeyMaterial by one RSA-OAEP decryption in it.
func BenchmarkGetParametersForImport(b *testing.B) {
	e := newEnv(b)
	m := e.createExternal(b, "", "")
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		b.Run(spec, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.svc.GetParametersForImport(e.root, &kmsv1.GetParametersForImportRequest{KeyId: m.KeyId,
					WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: spec}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkImportKeyMaterial(b *testing.B) {
	e := newEnv(b)
	m := e.createExternal(b, "", "")
	for _, alg := range []string{"RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"} {
		b.Run(alg, func(b *testing.B) {
			p := e.params(b, m.KeyId, alg)
			req := noExpiry(m.KeyId, p, wrapFor(b, p, alg, bytes.Repeat([]byte{1}, 32)))
			for b.Loop() {
				if _, err := e.svc.ImportKeyMaterial(e.root, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
