package kms_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

type env struct {
	svc  *kms.Service
	fsm  *fsm.FSM
	log  *fsmtest.Log
	root context.Context
	bob  context.Context
}

func newEnv(t testing.TB) *env { return newEnvMax(t, nil, 20) }

func newEnvWith(t testing.TB, a kms.Authorizer) *env { return newEnvMax(t, a, 20) }

// newEnvMax returns an env; configure, if given, may change the
// service's configuration (its Store is the env's FSM).
func newEnvMax(t testing.TB, a kms.Authorizer, maxGrants int, configure ...func(*kms.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	f := fsm.New()
	log := fsmtest.NewLog(f)
	cfg := kms.Config{Region: "us-east-1", Store: f, Log: log, Reads: log, HSM: h, Authorizer: a, MaxGrantsPerKey: maxGrants}
	for _, c := range configure {
		c(&cfg)
	}
	svc, err := kms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := identity.ParsePrincipal("arn:aws:iam::111122223333:user/bob")
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		svc:  svc,
		fsm:  f,
		log:  log,
		root: identity.NewContext(context.Background(), identity.RootPrincipal("111122223333")),
		bob:  identity.NewContext(context.Background(), bob),
	}
}

func (e *env) createKey(t testing.TB) *kmsv1.KeyMetadata {
	t.Helper()
	r, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return r.KeyMetadata
}

func wantType(t *testing.T, err error, typ string) {
	t.Helper()
	if typ == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ke *wire.Error
	if !errors.As(err, &ke) || ke.Type != typ {
		t.Fatalf("got error %v, want %s", err, typ)
	}
}

func i32(v int32) *int32 { return &v }

// message returns the caller-visible message of err, which must be a
// *wire.Error.
func message(tb testing.TB, err error) string {
	tb.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		tb.Fatalf("got error %v, want a *wire.Error", err)
	}
	return we.Message
}

func TestCreateKeyDefaultsMatchAWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	want := &kmsv1.KeyMetadata{
		AwsAccountId: "111122223333", KeyId: m.KeyId, Arn: "arn:aws:kms:us-east-1:111122223333:key/" + m.KeyId,
		CreationDate: m.CreationDate, Enabled: true, Description: "test", KeyUsage: "ENCRYPT_DECRYPT",
		KeyState: "Enabled", Origin: "AWS_KMS", KeyManager: "CUSTOMER", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
		KeySpec: "SYMMETRIC_DEFAULT", EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"},
		CurrentKeyMaterialId: m.CurrentKeyMaterialId,
	}
	if !proto.Equal(m, want) {
		t.Fatalf("got %v\nwant %v", m, want)
	}
	if len(m.KeyId) != 36 || m.CreationDate <= 0 {
		t.Fatalf("bad id or date: %v", m)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("d", 8193)
	tests := []struct {
		name string
		req  *kmsv1.CreateKeyRequest
		ctx  context.Context
		want string
	}{
		{"description too long", &kmsv1.CreateKeyRequest{Description: long}, e.root, wire.Validation},
		{"unknown key spec", &kmsv1.CreateKeyRequest{KeySpec: "AES"}, e.root, wire.Validation},
		{"SM2", &kmsv1.CreateKeyRequest{KeySpec: "SM2", KeyUsage: "SIGN_VERIFY"}, e.root, wire.UnsupportedOperation},
		{"SM2 encryption", &kmsv1.CreateKeyRequest{KeySpec: "SM2", KeyUsage: "ENCRYPT_DECRYPT"}, e.root, wire.UnsupportedOperation},
		{"SM2 key agreement", &kmsv1.CreateKeyRequest{KeySpec: "SM2", KeyUsage: "KEY_AGREEMENT"}, e.root, wire.UnsupportedOperation},
		{"SM2 without usage", &kmsv1.CreateKeyRequest{KeySpec: "SM2"}, e.root, wire.UnsupportedOperation},
		{"SM2 MAC", &kmsv1.CreateKeyRequest{KeySpec: "SM2", KeyUsage: "GENERATE_VERIFY_MAC"}, e.root, wire.Validation},
		{"ML-DSA encryption", &kmsv1.CreateKeyRequest{KeySpec: "ML_DSA_65", KeyUsage: "ENCRYPT_DECRYPT"}, e.root, wire.Validation},
		{"ML-DSA without usage", &kmsv1.CreateKeyRequest{KeySpec: "ML_DSA_65"}, e.root, wire.Validation},
		{"secp256k1 key agreement", &kmsv1.CreateKeyRequest{KeySpec: "ECC_SECG_P256K1", KeyUsage: "KEY_AGREEMENT"}, e.root, wire.Validation},
		{"asymmetric without usage", &kmsv1.CreateKeyRequest{KeySpec: "ECC_NIST_P256"}, e.root, wire.Validation},
		{"ECC encryption", &kmsv1.CreateKeyRequest{KeySpec: "ECC_NIST_P256", KeyUsage: "ENCRYPT_DECRYPT"}, e.root, wire.Validation},
		{"HMAC signing", &kmsv1.CreateKeyRequest{KeySpec: "HMAC_256", KeyUsage: "SIGN_VERIFY"}, e.root, wire.Validation},
		{"wrong usage", &kmsv1.CreateKeyRequest{KeyUsage: "SIGN_VERIFY"}, e.root, wire.Validation},
		{"bad usage", &kmsv1.CreateKeyRequest{KeyUsage: "ENCRYPT"}, e.root, wire.Validation},
		{"CloudHSM origin", &kmsv1.CreateKeyRequest{Origin: "AWS_CLOUDHSM"}, e.root, wire.UnsupportedOperation},
		{"multi region", &kmsv1.CreateKeyRequest{MultiRegion: true}, e.root, wire.UnsupportedOperation},
		{"conflicting specs", &kmsv1.CreateKeyRequest{KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "RSA_2048"}, e.root, wire.Validation},
		{"reserved tag", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "aws:x", TagValue: "v"}}}, e.root, wire.Tag},
		{"duplicate tag", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "a"}, {TagKey: "a"}}}, e.root, wire.Tag},
		// Tag key and value lengths fail request validation on AWS, not TagException.
		{"empty tag key", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: ""}}}, e.root, wire.Validation},
		{"long tag value", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: strings.Repeat("v", 257)}}}, e.root, wire.Validation},
		{"not root", &kmsv1.CreateKeyRequest{}, e.bob, wire.AccessDenied},
		{"no principal", &kmsv1.CreateKeyRequest{}, context.Background(), wire.UnrecognizedClient},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.CreateKey(tt.ctx, tt.req)
			wantType(t, err, tt.want)
			if tt.req.KeySpec == "SM2" && tt.want == wire.UnsupportedOperation && !strings.Contains(message(t, err), "SM2 is not supported") {
				t.Fatalf("message %q does not say SM2 is not supported", message(t, err))
			}
		})
	}
	if n := e.fsm.KeyCount(); n != 0 {
		t.Fatalf("refused CreateKey calls created %d keys", n)
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	for _, keyID := range []string{m.KeyId, m.Arn, strings.ToUpper(m.KeyId)} {
		enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("secret"),
			EncryptionContext: map[string]string{"customerID": "3369", "purpose": "test"}})
		if err != nil {
			t.Fatalf("Encrypt with %s: %v", keyID, err)
		}
		if enc.KeyId != m.Arn || enc.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
			t.Fatalf("response %v", enc)
		}
		dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob,
			EncryptionContext: map[string]string{"purpose": "test", "customerID": "3369"}})
		if err != nil {
			t.Fatal(err)
		}
		if string(dec.Plaintext) != "secret" || dec.KeyId != m.Arn {
			t.Fatalf("decrypted %q under %s", dec.Plaintext, dec.KeyId)
		}
	}
}

func TestEncryptErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	disabled := e.createKey(t)
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: disabled.KeyId}); err != nil {
		t.Fatal(err)
	}
	pt := []byte("PLAINTEXT-SENTINEL-7f3a")
	tests := []struct {
		name string
		ctx  context.Context
		req  *kmsv1.EncryptRequest
		want string
	}{
		{"empty plaintext", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId}, wire.Validation},
		{"plaintext over 4096", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 4097)}, wire.Validation},
		{"plaintext of 4096", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 4096)}, ""},
		{"no key id", e.root, &kmsv1.EncryptRequest{Plaintext: pt}, wire.Validation},
		{"malformed key id", e.root, &kmsv1.EncryptRequest{KeyId: "not-a-key", Plaintext: pt}, wire.NotFound},
		{"unknown key", e.root, &kmsv1.EncryptRequest{KeyId: "11111111-2222-3333-4444-555555555555", Plaintext: pt}, wire.NotFound},
		{"unknown alias", e.root, &kmsv1.EncryptRequest{KeyId: "alias/nope", Plaintext: pt}, wire.NotFound},
		{"other region arn", e.root, &kmsv1.EncryptRequest{KeyId: strings.Replace(m.Arn, "us-east-1", "eu-west-1", 1), Plaintext: pt}, wire.NotFound},
		{"other account arn", e.root, &kmsv1.EncryptRequest{KeyId: strings.Replace(m.Arn, "111122223333", "444455556666", 1), Plaintext: pt}, wire.NotFound},
		{"asymmetric algorithm", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, wire.InvalidKeyUsage},
		{"unknown algorithm", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, EncryptionAlgorithm: "AES"}, wire.Validation},
		{"empty context key", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, EncryptionContext: map[string]string{"": "v"}}, wire.Validation},
		{"too many grant tokens", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, GrantTokens: make([]string, 11)}, wire.Validation},
		{"forged grant token", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, GrantTokens: []string{"v1.AAAA"}}, wire.InvalidGrantToken},
		{"disabled key", e.root, &kmsv1.EncryptRequest{KeyId: disabled.KeyId, Plaintext: pt}, wire.Disabled},
		{"not authorized", e.bob, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt}, wire.AccessDenied},
		{"dry run", e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: pt, DryRun: true}, wire.DryRunOperation},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.Encrypt(tt.ctx, tt.req)
			wantType(t, err, tt.want)
			if err != nil && bytes.Contains([]byte(err.Error()), tt.req.Plaintext) && len(tt.req.Plaintext) > 0 {
				t.Fatalf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestAWSErrorMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")})
	if got, want := err.Error(), "DisabledException: "+m.Arn+" is disabled."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	id := "11111111-2222-3333-4444-555555555555"
	_, err = e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: id})
	if got, want := err.Error(), "NotFoundException: Key 'arn:aws:kms:us-east-1:111122223333:key/"+id+"' does not exist"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = e.svc.DescribeKey(e.bob, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	want := "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:DescribeKey on resource: " +
		m.Arn + " because no resource-based policy allows the kms:DescribeKey action"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	_, err = e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 5000)})
	if got, want := err.Error(), "ValidationException: 1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDecryptErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	other := e.createKey(t)
	ec := map[string]string{"k": "v"}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	blob := enc.CiphertextBlob
	flipped := bytes.Clone(blob)
	flipped[len(flipped)-1] ^= 1
	unknownKey := bytes.Clone(blob)
	unknownKey[5] ^= 0xff // inside the key id
	tests := []struct {
		name string
		ctx  context.Context
		req  *kmsv1.DecryptRequest
		want string
	}{
		{"ok", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec}, ""},
		{"ok with key id", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec, KeyId: m.Arn}, ""},
		{"missing context", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob}, wire.InvalidCiphertext},
		{"other context", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: map[string]string{"k": "V"}}, wire.InvalidCiphertext},
		{"extra context pair", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: map[string]string{"k": "v", "x": "y"}}, wire.InvalidCiphertext},
		{"flipped bit", e.root, &kmsv1.DecryptRequest{CiphertextBlob: flipped, EncryptionContext: ec}, wire.InvalidCiphertext},
		{"truncated", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob[:40], EncryptionContext: ec}, wire.InvalidCiphertext},
		{"empty", e.root, &kmsv1.DecryptRequest{}, wire.Validation},
		{"too long", e.root, &kmsv1.DecryptRequest{CiphertextBlob: make([]byte, 6145)}, wire.Validation},
		{"incorrect key", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec, KeyId: other.KeyId}, wire.IncorrectKey},
		{"unknown key in blob", e.root, &kmsv1.DecryptRequest{CiphertextBlob: unknownKey, EncryptionContext: ec}, wire.AccessDenied},
		{"not authorized", e.bob, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec}, wire.AccessDenied},
		{"dry run", e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec, DryRun: true}, wire.DryRunOperation},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.Decrypt(tt.ctx, tt.req)
			wantType(t, err, tt.want)
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks plaintext: %v", err)
			}
		})
	}
	t.Run("disabled key", func(t *testing.T) {
		if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec})
		wantType(t, err, wire.Disabled)
		if _, err := e.svc.EnableKey(e.root, &kmsv1.EnableKeyRequest{KeyId: m.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec})
		wantType(t, err, "")
	})
}

func TestGenerateDataKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	tests := []struct {
		name string
		spec string
		n    *int32
		size int
		want string
	}{
		{"AES_256", "AES_256", nil, 32, ""},
		{"AES_128", "AES_128", nil, 16, ""},
		{"one byte", "", i32(1), 1, ""},
		{"1024 bytes", "", i32(1024), 1024, ""},
		{"zero bytes", "", i32(0), 0, wire.Validation},
		{"1025 bytes", "", i32(1025), 0, wire.Validation},
		{"neither", "", nil, 0, wire.Validation},
		{"both", "AES_256", i32(32), 0, wire.Validation},
		{"bad spec", "AES_512", nil, 0, wire.Validation},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			r, err := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: tt.spec, NumberOfBytes: tt.n})
			wantType(t, err, tt.want)
			if err != nil {
				return
			}
			if len(r.Plaintext) != tt.size || r.KeyId != m.Arn {
				t.Fatalf("got %d bytes under %s", len(r.Plaintext), r.KeyId)
			}
			dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob})
			if err != nil || !bytes.Equal(dec.Plaintext, r.Plaintext) {
				t.Fatalf("data key does not decrypt to itself: %v", err)
			}
			w, err := e.svc.GenerateDataKeyWithoutPlaintext(e.root, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: m.KeyId, KeySpec: tt.spec, NumberOfBytes: tt.n})
			if err != nil {
				t.Fatal(err)
			}
			dec, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: w.CiphertextBlob})
			if err != nil || len(dec.Plaintext) != tt.size {
				t.Fatalf("WithoutPlaintext key: %v", err)
			}
		})
	}
	a, _ := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: "AES_256"})
	b, _ := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: "AES_256"})
	if bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Fatal("two data keys are equal")
	}
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	if _, err := e.svc.UpdateKeyDescription(e.root, &kmsv1.UpdateKeyDescriptionRequest{KeyId: m.Arn, Description: "new"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	// DisableKey on a disabled key succeeds, as in AWS.
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if d.KeyMetadata.Enabled || d.KeyMetadata.KeyState != "Disabled" || d.KeyMetadata.Description != "new" {
		t.Fatalf("metadata %v", d.KeyMetadata)
	}
	_, err = e.svc.EnableKey(e.root, &kmsv1.EnableKeyRequest{KeyId: "alias/x"})
	wantType(t, err, wire.InvalidArn)
	_, err = e.svc.EnableKey(e.bob, &kmsv1.EnableKeyRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.UpdateKeyDescription(e.root, &kmsv1.UpdateKeyDescriptionRequest{KeyId: m.KeyId, Description: strings.Repeat("x", 8193)})
	wantType(t, err, wire.Validation)
}

func TestListKeysPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := map[string]bool{}
	for range 7 {
		want[e.createKey(t).KeyId] = true
	}
	got := map[string]bool{}
	marker := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("too many pages")
		}
		r, err := e.svc.ListKeys(e.root, &kmsv1.ListKeysRequest{Limit: i32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range r.Keys {
			if !strings.HasSuffix(k.KeyArn, k.KeyId) {
				t.Fatalf("entry %v", k)
			}
			got[k.KeyId] = true
		}
		if !r.Truncated {
			if r.NextMarker != "" {
				t.Fatal("NextMarker without Truncated")
			}
			break
		}
		marker = r.NextMarker
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d keys, want %d", len(got), len(want))
	}
	_, err := e.svc.ListKeys(e.root, &kmsv1.ListKeysRequest{Marker: "garbage!"})
	wantType(t, err, wire.InvalidMarker)
	_, err = e.svc.ListKeys(e.root, &kmsv1.ListKeysRequest{Limit: i32(0)})
	wantType(t, err, wire.Validation)
	_, err = e.svc.ListKeys(e.root, &kmsv1.ListKeysRequest{Limit: i32(1001)})
	wantType(t, err, wire.Validation)
}

func TestRefusedWritesChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	before := e.fsm.AppliedIndex()
	calls := []func() error{
		func() error {
			_, err := e.svc.UpdateKeyDescription(e.bob, &kmsv1.UpdateKeyDescriptionRequest{KeyId: m.KeyId, Description: "x"})
			return err
		},
		func() error {
			_, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: "11111111-2222-3333-4444-555555555555"})
			return err
		},
		func() error {
			_, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{KeySpec: "nope"})
			return err
		},
	}
	for i, call := range calls {
		if call() == nil {
			t.Fatalf("call %d succeeded", i)
		}
	}
	if e.fsm.AppliedIndex() != before {
		t.Fatal("a refused call reached the log")
	}
}

func TestGenerateRandom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := e.svc.GenerateRandom(e.root, &kmsv1.GenerateRandomRequest{NumberOfBytes: i32(64)})
	if err != nil || len(r.Plaintext) != 64 {
		t.Fatalf("%v, %d bytes", err, len(r.GetPlaintext()))
	}
	for _, n := range []*int32{nil, i32(0), i32(1025)} {
		_, err := e.svc.GenerateRandom(e.root, &kmsv1.GenerateRandomRequest{NumberOfBytes: n})
		wantType(t, err, wire.Validation)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	e := newEnv(b)
	m := e.createKey(b)
	req := &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 32), EncryptionContext: map[string]string{"a": "b"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Encrypt(e.root, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
