package awsapi_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trentkms/trent/awsapi"
)

// The AWS SDK re-encrypts a ciphertext under another key named by alias,
// with a new encryption context, decrypts the result, and reads AWS's
// ReEncrypt errors by their codes.
func TestSDKReEncrypt(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	src, dst := e.createKey(t, "source"), e.createKey(t, "destination")
	if _, err := e.root.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/dst"), TargetKeyId: dst.KeyId}); err != nil {
		t.Fatal(err)
	}
	srcEC, dstEC := map[string]string{"stage": "1"}, map[string]string{"stage": "2"}
	enc, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: src.KeyId, Plaintext: []byte("secret"), EncryptionContext: srcEC})
	if err != nil {
		t.Fatal(err)
	}
	re, err := e.root.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcEC,
		DestinationKeyId: aws.String("alias/dst"), DestinationEncryptionContext: dstEC})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.SourceKeyId) != aws.ToString(src.Arn) || aws.ToString(re.KeyId) != aws.ToString(dst.Arn) ||
		re.SourceEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault ||
		re.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("ReEncrypt answered %+v", re)
	}
	dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: dstEC})
	if err != nil || string(dec.Plaintext) != "secret" || aws.ToString(dec.KeyId) != aws.ToString(dst.Arn) {
		t.Fatalf("Decrypt of the re-encrypted blob: %+v %v", dec, err)
	}

	before := e.srv.requests.Load()
	_, err = e.root.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcEC,
		SourceKeyId: dst.KeyId, DestinationKeyId: dst.KeyId})
	var incorrect *types.IncorrectKeyException
	e.wantAPIError(t, err, "IncorrectKeyException", before)
	if !errors.As(err, &incorrect) {
		t.Fatalf("the SDK did not decode IncorrectKeyException: %T", err)
	}
	before = e.srv.requests.Load()
	_, err = e.root.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId})
	e.wantAPIError(t, err, "InvalidCiphertextException", before)
	if _, err := e.root.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: dst.KeyId}); err != nil {
		t.Fatal(err)
	}
	before = e.srv.requests.Load()
	_, err = e.root.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcEC,
		DestinationKeyId: aws.String("alias/dst")})
	e.wantAPIError(t, err, "DisabledException", before)
	before = e.srv.requests.Load()
	_, err = e.root.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcEC,
		DestinationKeyId: src.KeyId, DryRun: aws.Bool(true)})
	e.wantAPIError(t, err, "DryRunOperationException", before)
}

// DescribeKey answers every KeyMetadata member AWS returns for a
// symmetric encryption key, and no member that does not apply to one.
func TestRawDescribeKeyMembers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newService(t), awsapi.Options{})
	call := func(target, body string) *response {
		t.Helper()
		resp := srv.do(t, srv.rawRequest(t, target, body, rootKeyID, rootSecret, time.Now()))
		if resp.status != 200 {
			t.Fatalf("%s: %d %s", target, resp.status, resp.body)
		}
		return resp
	}
	// What AWS answers for CreateKey with no parameters (examples-1.json,
	// reference 1.2), beside members other tests own: DeletionDate and
	// PendingDeletionWindowInDays (deletion), CurrentKeyMaterialId
	// (rotation).
	want := []string{"AWSAccountId", "Arn", "CreationDate", "CustomerMasterKeySpec", "Description", "Enabled",
		"EncryptionAlgorithms", "KeyId", "KeyManager", "KeySpec", "KeyState", "KeyUsage", "MultiRegion", "Origin"}
	owned := []string{"DeletionDate", "PendingDeletionWindowInDays", "CurrentKeyMaterialId"}
	keyID := call("TrentService.CreateKey", `{}`).json["KeyMetadata"].(map[string]any)["KeyId"].(string)
	for _, state := range []string{"Enabled", "Disabled"} {
		if state == "Disabled" {
			call("TrentService.DisableKey", `{"KeyId":"`+keyID+`"}`)
		}
		resp := call("TrentService.DescribeKey", `{"KeyId":"`+keyID+`"}`)
		md := resp.json["KeyMetadata"].(map[string]any)
		for _, m := range want {
			if _, ok := md[m]; !ok {
				t.Errorf("%s key: KeyMetadata has no %s: %s", state, m, resp.body)
			}
		}
		for m := range md {
			if !slices.Contains(want, m) && !slices.Contains(owned, m) {
				t.Errorf("%s key: KeyMetadata has %s, which AWS does not answer for a symmetric key: %s", state, m, resp.body)
			}
		}
		if md["KeyState"] != state || md["Enabled"] != (state == "Enabled") || md["MultiRegion"] != false ||
			md["Description"] != "" || md["KeyManager"] != "CUSTOMER" || md["Origin"] != "AWS_KMS" ||
			md["AWSAccountId"] != account {
			t.Errorf("%s key: KeyMetadata %s", state, resp.body)
		}
	}
}
