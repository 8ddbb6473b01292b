package awsapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
)

// The AWS SDK imports key material: CreateKey with Origin EXTERNAL,
// GetParametersForImport, the material wrapped with the public key as a
// client does, ImportKeyMaterial with a ValidTo (a timestamp on the
// wire), encryption with the imported key, DescribeKey's ExpirationModel
// and ValidTo, the SDK's typed errors for other material and a bad
// token, and DeleteImportedKeyMaterial.
func TestSDKImportKeyMaterial(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	id := k.KeyMetadata.KeyId
	if k.KeyMetadata.KeyState != types.KeyStatePendingImport || k.KeyMetadata.Origin != types.OriginTypeExternal {
		t.Fatalf("CreateKey EXTERNAL answered %+v", k.KeyMetadata)
	}
	p, err := e.root.GetParametersForImport(ctx, &awskms.GetParametersForImportInput{KeyId: id,
		WrappingAlgorithm: types.AlgorithmSpecRsaAesKeyWrapSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	if p.ParametersValidTo == nil || time.Until(*p.ParametersValidTo) < 23*time.Hour || len(p.ImportToken) == 0 {
		t.Fatalf("GetParametersForImport answered %+v", p)
	}
	material := bytes.Repeat([]byte{0x33}, 32)
	wrapped, err := keywrap.ForImport(rand.Reader, p.PublicKey, hsm.RsaAesKeyWrapSHA256, material)
	if err != nil {
		t.Fatal(err)
	}
	validTo := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	imp, err := e.root.ImportKeyMaterial(ctx, &awskms.ImportKeyMaterialInput{KeyId: id, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: &validTo})
	if err != nil {
		t.Fatal(err)
	}
	if imp.KeyMaterialId == nil || len(*imp.KeyMaterialId) != 64 {
		t.Fatalf("ImportKeyMaterial answered %+v", imp)
	}
	d, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	m := d.KeyMetadata
	if m.KeyState != types.KeyStateEnabled || m.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires ||
		m.ValidTo == nil || !m.ValidTo.Equal(validTo) {
		t.Fatalf("DescribeKey answered state %s, model %s, ValidTo %v; want ValidTo %v", m.KeyState, m.ExpirationModel, m.ValidTo, validTo)
	}
	enc, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("byok")})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "byok" {
		t.Fatalf("Decrypt: %v", err)
	}

	other, _ := keywrap.ForImport(rand.Reader, p.PublicKey, hsm.RsaAesKeyWrapSHA256, bytes.Repeat([]byte{0x44}, 32))
	_, err = e.root.ImportKeyMaterial(ctx, &awskms.ImportKeyMaterialInput{KeyId: id, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: other, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	var ikm *types.IncorrectKeyMaterialException
	if !errors.As(err, &ikm) {
		t.Fatalf("other material: %v, want IncorrectKeyMaterialException", err)
	}
	bad := bytes.Clone(p.ImportToken)
	bad[len(bad)-1] ^= 1
	_, err = e.root.ImportKeyMaterial(ctx, &awskms.ImportKeyMaterialInput{KeyId: id, ImportToken: bad,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	var iit *types.InvalidImportTokenException
	if !errors.As(err, &iit) {
		t.Fatalf("bad token: %v, want InvalidImportTokenException", err)
	}

	del, err := e.root.DeleteImportedKeyMaterial(ctx, &awskms.DeleteImportedKeyMaterialInput{KeyId: id})
	if err != nil || aws.ToString(del.KeyMaterialId) != *imp.KeyMaterialId {
		t.Fatalf("DeleteImportedKeyMaterial: %+v, %v", del, err)
	}
	_, err = e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	var st *types.KMSInvalidStateException
	if !errors.As(err, &st) {
		t.Fatalf("Decrypt after delete: %v, want KMSInvalidStateException", err)
	}
	_, err = e.root.GetParametersForImport(ctx, &awskms.GetParametersForImportInput{KeyId: e.createKey(t, "native").KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	var uo *types.UnsupportedOperationException
	if !errors.As(err, &uo) {
		t.Fatalf("GetParametersForImport of an AWS_KMS key: %v, want UnsupportedOperationException", err)
	}
}
