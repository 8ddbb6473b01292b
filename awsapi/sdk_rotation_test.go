package awsapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The AWS SDK turns rotation on and reads its status, rotates on demand,
// lists the rotations with its paginator, decrypts a ciphertext made
// before the rotation, and reads AWS's rotation errors by their codes.
func TestSDKRotation(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "rotated")
	if m.CurrentKeyMaterialId == nil || len(*m.CurrentKeyMaterialId) != 64 {
		t.Fatalf("CurrentKeyMaterialId %v", m.CurrentKeyMaterialId)
	}
	old, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.root.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: m.KeyId, RotationPeriodInDays: aws.Int32(180)}); err != nil {
		t.Fatal(err)
	}
	st, err := e.root.GetKeyRotationStatus(ctx, &awskms.GetKeyRotationStatusInput{KeyId: m.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 180 || st.NextRotationDate == nil || aws.ToString(st.KeyId) != *m.KeyId ||
		st.OnDemandRotationStartDate != nil {
		t.Fatalf("status %+v", st)
	}
	for range 2 {
		r, err := e.root.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: m.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(r.KeyId) != *m.KeyId {
			t.Fatalf("RotateKeyOnDemand KeyId %v", r.KeyId)
		}
	}
	var rotations []types.RotationsListEntry
	pages := awskms.NewListKeyRotationsPaginator(e.root, &awskms.ListKeyRotationsInput{KeyId: m.KeyId, Limit: aws.Int32(1)})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rotations = append(rotations, p.Rotations...)
	}
	d, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(rotations) != 2 || rotations[1].RotationType != types.RotationTypeOnDemand || rotations[1].RotationDate == nil ||
		aws.ToString(rotations[1].KeyMaterialId) != aws.ToString(d.KeyMetadata.CurrentKeyMaterialId) ||
		rotations[1].KeyMaterialState != types.KeyMaterialStateCurrent || rotations[0].KeyMaterialState != types.KeyMaterialStateNonCurrent {
		t.Fatalf("rotations %+v", rotations)
	}
	dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: old.CiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "before" || aws.ToString(dec.KeyMaterialId) != aws.ToString(m.CurrentKeyMaterialId) {
		t.Fatalf("old ciphertext: %q under %v", dec.Plaintext, dec.KeyMaterialId)
	}
	if _, err := e.root.DisableKeyRotation(ctx, &awskms.DisableKeyRotationInput{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st, err = e.root.GetKeyRotationStatus(ctx, &awskms.GetKeyRotationStatusInput{KeyId: m.KeyId}); err != nil || st.KeyRotationEnabled {
		t.Fatalf("after DisableKeyRotation: %+v, %v", st, err)
	}

	before := e.srv.requests.Load()
	_, err = e.root.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: m.KeyId, RotationPeriodInDays: aws.Int32(89)})
	e.wantAPIError(t, err, "ValidationException", before)
	if _, err := e.root.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	before = e.srv.requests.Load()
	_, err = e.root.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: m.KeyId})
	e.wantAPIError(t, err, "DisabledException", before)
	before = e.srv.requests.Load()
	_, err = e.root.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: aws.String("alias/x")})
	e.wantAPIError(t, err, "InvalidArnException", before)
}
