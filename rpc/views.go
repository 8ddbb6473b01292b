package rpc

import (
	"context"

	"github.com/trentkms/trent/consistency"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/kms"
)

// views serves each call from one of two services over the same log and
// HSM: the live one, over the local state, and the delayed one, over the
// delayed view of a simulated propagation delay
// (docs/eventual-consistency.md). A read the consistency gate admitted
// to the delayed view (consistency.DelayedView) runs on the delayed
// service; everything else, writes and operations not listed here among
// them, on the live one.
type views struct {
	handler // the live service, for every operation not listed below
	delayed handler
}

// Views returns the handler that serves reads admitted to the delayed
// view from delayed, and every other call from live. Transports dispatch
// through it as through Service.
func Views(live, delayed *kms.Service) kmsv1connect.KeyManagementServiceHandler {
	return views{handler: handler{Service: live}, delayed: handler{Service: delayed}}
}

// pick returns the service the call in ctx reads.
func (v views) pick(ctx context.Context) handler {
	if consistency.DelayedView(ctx) {
		return v.delayed
	}
	return v.handler
}

// The read-only operations that read replicated state (wire.ReadOnly;
// GenerateRandom reads none). TestViewsRouteEveryStateRead checks the list.

func (v views) Decrypt(ctx context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	return v.pick(ctx).Decrypt(ctx, req)
}

func (v views) DeriveSharedSecret(ctx context.Context, req *kmsv1.DeriveSharedSecretRequest) (*kmsv1.DeriveSharedSecretResponse, error) {
	return v.pick(ctx).DeriveSharedSecret(ctx, req)
}

func (v views) DescribeKey(ctx context.Context, req *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	return v.pick(ctx).DescribeKey(ctx, req)
}

func (v views) Encrypt(ctx context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	return v.pick(ctx).Encrypt(ctx, req)
}

func (v views) GenerateDataKey(ctx context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	return v.pick(ctx).GenerateDataKey(ctx, req)
}

func (v views) GenerateDataKeyPair(ctx context.Context, req *kmsv1.GenerateDataKeyPairRequest) (*kmsv1.GenerateDataKeyPairResponse, error) {
	return v.pick(ctx).GenerateDataKeyPair(ctx, req)
}

func (v views) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyPairWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyPairWithoutPlaintextResponse, error) {
	return v.pick(ctx).GenerateDataKeyPairWithoutPlaintext(ctx, req)
}

func (v views) GenerateDataKeyWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	return v.pick(ctx).GenerateDataKeyWithoutPlaintext(ctx, req)
}

func (v views) GenerateMac(ctx context.Context, req *kmsv1.GenerateMacRequest) (*kmsv1.GenerateMacResponse, error) {
	return v.pick(ctx).GenerateMac(ctx, req)
}

func (v views) GetParametersForImport(ctx context.Context, req *kmsv1.GetParametersForImportRequest) (*kmsv1.GetParametersForImportResponse, error) {
	return v.pick(ctx).GetParametersForImport(ctx, req)
}

func (v views) GetKeyPolicy(ctx context.Context, req *kmsv1.GetKeyPolicyRequest) (*kmsv1.GetKeyPolicyResponse, error) {
	return v.pick(ctx).GetKeyPolicy(ctx, req)
}

func (v views) GetKeyRotationStatus(ctx context.Context, req *kmsv1.GetKeyRotationStatusRequest) (*kmsv1.GetKeyRotationStatusResponse, error) {
	return v.pick(ctx).GetKeyRotationStatus(ctx, req)
}

func (v views) GetPublicKey(ctx context.Context, req *kmsv1.GetPublicKeyRequest) (*kmsv1.GetPublicKeyResponse, error) {
	return v.pick(ctx).GetPublicKey(ctx, req)
}

func (v views) ListAliases(ctx context.Context, req *kmsv1.ListAliasesRequest) (*kmsv1.ListAliasesResponse, error) {
	return v.pick(ctx).ListAliases(ctx, req)
}

func (v views) ListGrants(ctx context.Context, req *kmsv1.ListGrantsRequest) (*kmsv1.ListGrantsResponse, error) {
	return v.pick(ctx).ListGrants(ctx, req)
}

func (v views) ListKeyPolicies(ctx context.Context, req *kmsv1.ListKeyPoliciesRequest) (*kmsv1.ListKeyPoliciesResponse, error) {
	return v.pick(ctx).ListKeyPolicies(ctx, req)
}

func (v views) ListKeyRotations(ctx context.Context, req *kmsv1.ListKeyRotationsRequest) (*kmsv1.ListKeyRotationsResponse, error) {
	return v.pick(ctx).ListKeyRotations(ctx, req)
}

func (v views) ListKeys(ctx context.Context, req *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	return v.pick(ctx).ListKeys(ctx, req)
}

func (v views) ListResourceTags(ctx context.Context, req *kmsv1.ListResourceTagsRequest) (*kmsv1.ListResourceTagsResponse, error) {
	return v.pick(ctx).ListResourceTags(ctx, req)
}

func (v views) ListRetirableGrants(ctx context.Context, req *kmsv1.ListRetirableGrantsRequest) (*kmsv1.ListRetirableGrantsResponse, error) {
	return v.pick(ctx).ListRetirableGrants(ctx, req)
}

func (v views) ReEncrypt(ctx context.Context, req *kmsv1.ReEncryptRequest) (*kmsv1.ReEncryptResponse, error) {
	return v.pick(ctx).ReEncrypt(ctx, req)
}

func (v views) Sign(ctx context.Context, req *kmsv1.SignRequest) (*kmsv1.SignResponse, error) {
	return v.pick(ctx).Sign(ctx, req)
}

func (v views) Verify(ctx context.Context, req *kmsv1.VerifyRequest) (*kmsv1.VerifyResponse, error) {
	return v.pick(ctx).Verify(ctx, req)
}

func (v views) VerifyMac(ctx context.Context, req *kmsv1.VerifyMacRequest) (*kmsv1.VerifyMacResponse, error) {
	return v.pick(ctx).VerifyMac(ctx, req)
}
