package kms_test

import (
	"bytes"
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

func TestReEncrypt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	e.createAlias(t, "alias/dest", b.KeyId)
	srcEC := map[string]string{"purpose": "old"}
	dstEC := map[string]string{"purpose": "new"}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: a.KeyId, Plaintext: []byte("secret"), EncryptionContext: srcEC})
	if err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{b.KeyId, b.Arn, "alias/dest", aliasARNPrefix + "alias/dest"} {
		t.Run(strings.ReplaceAll(dest, "/", "_"), func(t *testing.T) {
			r, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob,
				SourceEncryptionContext: srcEC, DestinationKeyId: dest, DestinationEncryptionContext: dstEC})
			if err != nil {
				t.Fatal(err)
			}
			if r.SourceKeyId != a.Arn || r.KeyId != b.Arn || r.SourceEncryptionAlgorithm != "SYMMETRIC_DEFAULT" ||
				r.DestinationEncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
				t.Fatalf("response %v", r)
			}
			dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob, EncryptionContext: dstEC})
			if err != nil || !bytes.Equal(dec.Plaintext, []byte("secret")) || dec.KeyId != b.Arn {
				t.Fatalf("decrypt the re-encrypted blob: %v %v", dec, err)
			}
			// The material ids name the versions that opened and sealed.
			src, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: srcEC})
			if err != nil || r.SourceKeyMaterialId != src.KeyMaterialId || r.DestinationKeyMaterialId != dec.KeyMaterialId ||
				r.SourceKeyMaterialId == "" || r.SourceKeyMaterialId == r.DestinationKeyMaterialId {
				t.Fatalf("material ids: source %q (decrypt %q), destination %q (decrypt %q), %v",
					r.SourceKeyMaterialId, src.GetKeyMaterialId(), r.DestinationKeyMaterialId, dec.KeyMaterialId, err)
			}
			// The destination context is bound: the source's does not open it.
			_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob, EncryptionContext: srcEC})
			wantType(t, err, wire.InvalidCiphertext)
		})
	}
	// The same key, to change the context only.
	r, err := e.svc.ReEncrypt(e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob,
		SourceEncryptionContext: srcEC, DestinationKeyId: a.KeyId, DestinationEncryptionContext: dstEC})
	if err != nil || r.KeyId != a.Arn || r.SourceKeyId != a.Arn {
		t.Fatalf("same key: %v %v", r, err)
	}
}

func TestReEncryptErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, off := e.createKey(t), e.createKey(t), e.createKey(t)
	e.createAlias(t, "alias/src", a.KeyId)
	ec := map[string]string{"k": "v"}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: a.KeyId, Plaintext: []byte("x"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: off.KeyId}); err != nil {
		t.Fatal(err)
	}
	base := func(change func(*kmsv1.ReEncryptRequest)) *kmsv1.ReEncryptRequest {
		r := &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: b.KeyId}
		if change != nil {
			change(r)
		}
		return r
	}
	flipped := bytes.Clone(enc.CiphertextBlob)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		req  *kmsv1.ReEncryptRequest
		want string
	}{
		{"ok", base(nil), ""},
		{"source key id matches", base(func(r *kmsv1.ReEncryptRequest) { r.SourceKeyId = a.Arn }), ""},
		{"source alias matches", base(func(r *kmsv1.ReEncryptRequest) { r.SourceKeyId = "alias/src" }), ""},
		{"source key id of another key", base(func(r *kmsv1.ReEncryptRequest) { r.SourceKeyId = b.KeyId }), wire.IncorrectKey},
		{"source key id unknown", base(func(r *kmsv1.ReEncryptRequest) { r.SourceKeyId = "alias/none" }), wire.NotFound},
		{"no destination", base(func(r *kmsv1.ReEncryptRequest) { r.DestinationKeyId = "" }), wire.Validation},
		{"unknown destination", base(func(r *kmsv1.ReEncryptRequest) { r.DestinationKeyId = "alias/none" }), wire.NotFound},
		{"destination disabled", base(func(r *kmsv1.ReEncryptRequest) { r.DestinationKeyId = off.KeyId }), wire.Disabled},
		{"no ciphertext", base(func(r *kmsv1.ReEncryptRequest) { r.CiphertextBlob = nil }), wire.Validation},
		{"garbage ciphertext", base(func(r *kmsv1.ReEncryptRequest) { r.CiphertextBlob = []byte("garbage") }), wire.InvalidCiphertext},
		{"flipped bit", base(func(r *kmsv1.ReEncryptRequest) { r.CiphertextBlob = flipped }), wire.InvalidCiphertext},
		{"wrong source context", base(func(r *kmsv1.ReEncryptRequest) { r.SourceEncryptionContext = nil }), wire.InvalidCiphertext},
		{"bad source algorithm", base(func(r *kmsv1.ReEncryptRequest) { r.SourceEncryptionAlgorithm = "AES" }), wire.Validation},
		{"asymmetric destination algorithm", base(func(r *kmsv1.ReEncryptRequest) { r.DestinationEncryptionAlgorithm = "RSAES_OAEP_SHA_256" }), wire.InvalidKeyUsage},
		{"too many grant tokens", base(func(r *kmsv1.ReEncryptRequest) { r.GrantTokens = make([]string, 11) }), wire.Validation},
		{"dry run", base(func(r *kmsv1.ReEncryptRequest) { r.DryRun = true }), wire.DryRunOperation},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.ReEncrypt(e.root, tt.req)
			wantType(t, err, tt.want)
		})
	}
	// A disabled source key refuses too.
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: a.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ReEncrypt(e.root, base(nil))
	wantType(t, err, wire.Disabled)
}

// ReEncrypt is authorized as kms:ReEncryptFrom on the source and
// kms:ReEncryptTo on the destination, each with its own context; grants
// for those operations allow each side.
func TestReEncryptAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	srcEC := map[string]string{"tenant": "t1"}
	dstEC := map[string]string{"tenant": "t2"}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: a.KeyId, Plaintext: []byte("x"), EncryptionContext: srcEC})
	if err != nil {
		t.Fatal(err)
	}
	bob := as(t, bobARN)
	reencrypt := func() error {
		_, err := e.svc.ReEncrypt(bob, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob,
			SourceEncryptionContext: srcEC, DestinationKeyId: b.KeyId, DestinationEncryptionContext: dstEC})
		return err
	}
	wantType(t, reencrypt(), wire.AccessDenied)
	// ReEncryptFrom alone, constrained to the source context.
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: a.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"ReEncryptFrom"}, Constraints: subset("tenant", "t1")})
	err = reencrypt()
	wantType(t, err, wire.AccessDenied)
	if !strings.Contains(message(t, err), "kms:ReEncryptTo on resource: "+b.Arn) {
		t.Fatalf("denial names the wrong side: %v", err)
	}
	// A ReEncryptTo grant constrained to the source context does not
	// match the destination context.
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: b.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"ReEncryptTo"}, Constraints: subset("tenant", "t1")})
	wantType(t, reencrypt(), wire.AccessDenied)
	g := e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: b.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"ReEncryptTo"}, Constraints: subset("tenant", "t2")})
	wantType(t, reencrypt(), "")
	// With the grant's token, and with a token that is not one.
	for token, want := range map[string]string{g.GrantToken: "", "v1.forged": wire.InvalidGrantToken} {
		_, err := e.svc.ReEncrypt(bob, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcEC,
			DestinationKeyId: b.KeyId, DestinationEncryptionContext: dstEC, GrantTokens: []string{token}})
		wantType(t, err, want)
	}
	// Neither grant is a Decrypt or Encrypt grant.
	_, err = e.svc.Decrypt(bob, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: srcEC})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: b.KeyId, Plaintext: []byte("x"), EncryptionContext: dstEC})
	wantType(t, err, wire.AccessDenied)

	// The same through key policies: kms:ReEncrypt* covers both sides.
	c := e.createKey(t)
	e.apply(t, keyPolicyCmd(c.KeyId, kp(rootAll, stmt("Allow", aws(bobARN), `"kms:ReEncrypt*"`, ""))))
	encC, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: c.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ReEncrypt(bob, &kmsv1.ReEncryptRequest{CiphertextBlob: encC.CiphertextBlob, DestinationKeyId: c.KeyId})
	wantType(t, err, "")
	// Without ReEncryptFrom on the source, the source key is not revealed.
	e.apply(t, keyPolicyCmd(c.KeyId, kp(rootAll, stmt("Allow", aws(bobARN), `"kms:ReEncryptTo"`, ""))))
	_, err = e.svc.ReEncrypt(bob, &kmsv1.ReEncryptRequest{CiphertextBlob: encC.CiphertextBlob, DestinationKeyId: c.KeyId})
	wantError(t, err, wire.AccessDenied, "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")
}

// kms:ReEncryptOnSameKey is true when the destination is the source key,
// on both sides of the authorization (AWS's example policy refuses
// re-encryption under the same key).
func TestReEncryptOnSameKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	e.createAlias(t, "alias/a", a.KeyId)
	noSameKey := kp(rootAll, stmt("Allow", aws(bobARN), `"kms:ReEncrypt*"`, ""),
		stmt("Deny", `"*"`, `"kms:ReEncrypt*"`, `{"Bool":{"kms:ReEncryptOnSameKey":"true"}}`))
	e.apply(t, keyPolicyCmd(a.KeyId, noSameKey), keyPolicyCmd(b.KeyId, noSameKey))
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: a.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dest string
		want string
	}{
		{b.KeyId, ""},
		{a.KeyId, wire.AccessDenied},
		{"alias/a", wire.AccessDenied},
		{a.Arn, wire.AccessDenied},
	} {
		_, err := e.svc.ReEncrypt(as(t, bobARN), &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: tt.dest})
		wantType(t, err, tt.want)
	}
}

// BenchmarkReEncrypt measures one ReEncrypt of a short ciphertext to
// another key (account root, default policies): an HSM Open and Seal.
func BenchmarkReEncrypt(b *testing.B) {
	e := newEnv(b)
	src, dst := e.createKey(b), e.createKey(b)
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: src.KeyId, Plaintext: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	req := &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.ReEncrypt(e.root, req); err != nil {
			b.Fatal(err)
		}
	}
}
