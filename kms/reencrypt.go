package kms

import (
	"context"

	"github.com/trentkms/trent/ciphertext"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
)

// ReEncrypt decrypts a ciphertext blob and encrypts the plaintext under a
// destination key, in one call: the plaintext exists only in this node's
// memory between the HSM's Open and Seal, is cleared as soon as it is
// sealed again, and is never returned or logged.
//
// The source key comes from the blob; SourceKeyId, if given, must name the
// same key (IncorrectKeyException otherwise). The caller needs
// kms:ReEncryptFrom on the source key with the source encryption context
// and kms:ReEncryptTo on the destination key with the destination context;
// grants for the ReEncryptFrom and ReEncryptTo operations allow each side,
// their constraints checked against that side's context. Source and
// destination may be the same key (to change the context).
func (s *Service) ReEncrypt(ctx context.Context, req *kmsv1.ReEncryptRequest) (*kmsv1.ReEncryptResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	switch n := len(req.GetDestinationKeyId()); {
	case n == 0:
		return nil, validation("Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null")
	case n > 2048:
		return nil, validation("Value at 'destinationKeyId' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	if len(req.GetSourceKeyId()) > 2048 {
		return nil, validation("Value at 'sourceKeyId' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	if err := checkCiphertextBlob(req.GetCiphertextBlob()); err != nil {
		return nil, err
	}
	if err := checkAlgorithmAt("sourceEncryptionAlgorithm", req.GetSourceEncryptionAlgorithm()); err != nil {
		return nil, err
	}
	if err := checkAlgorithmAt("destinationEncryptionAlgorithm", req.GetDestinationEncryptionAlgorithm()); err != nil {
		return nil, err
	}
	srcEC, dstEC := req.GetSourceEncryptionContext(), req.GetDestinationEncryptionContext()
	if err := checkContextAt("sourceEncryptionContext", srcEC); err != nil {
		return nil, err
	}
	if err := checkContextAt("destinationEncryptionContext", dstEC); err != nil {
		return nil, err
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	same := s.sameKey(p, req.GetCiphertextBlob(), req.GetDestinationKeyId())
	src, err := s.ciphertextKey(ctx, req.GetCiphertextBlob(), req.GetSourceKeyId(),
		&AuthzRequest{Principal: p, Action: "kms:ReEncryptFrom", EncryptionContext: srcEC, ReEncryptOnSameKey: &same})
	if err != nil {
		return nil, err
	}
	dst, err := s.usableKey(ctx, req.GetDestinationKeyId(),
		&AuthzRequest{Principal: p, Action: "kms:ReEncryptTo", EncryptionContext: dstEC, ReEncryptOnSameKey: &same})
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	pt, err := s.open(ctx, src, srcEC, "ReEncrypt")
	if err != nil {
		return nil, err
	}
	blob, err := s.seal(ctx, dst, dstEC, pt)
	clear(pt)
	if err != nil {
		return nil, err
	}
	cur, _ := dst.Current() // seal encrypted under it
	return &kmsv1.ReEncryptResponse{
		CiphertextBlob:                 blob,
		SourceKeyId:                    src.key.ARN,
		KeyId:                          dst.ARN,
		SourceEncryptionAlgorithm:      symmetricDefault,
		DestinationEncryptionAlgorithm: symmetricDefault,
		SourceKeyMaterialId:            keyMaterialID(src.key, src.version),
		DestinationKeyMaterialId:       keyMaterialID(dst, cur),
	}, nil
}

// sameKey reports whether the destination names the key the blob was
// encrypted under, for kms:ReEncryptOnSameKey. Errors are left to the
// checks that report them.
func (s *Service) sameKey(p identity.Principal, raw []byte, destination string) bool {
	b, err := ciphertext.Parse(raw)
	if err != nil {
		return false
	}
	k, err := s.resolveKey(p, destination, true)
	return err == nil && k.ID == formatUUID(b.KeyID)
}
