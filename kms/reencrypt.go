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
// destination may be the same key (to change the context). Either side
// may be an RSA key instead (kms/rsa.go): the source then needs
// SourceKeyId and SourceEncryptionAlgorithm, the destination
// DestinationEncryptionAlgorithm, and neither takes a context.
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
	srcAlg, dstAlg := req.GetSourceEncryptionAlgorithm(), req.GetDestinationEncryptionAlgorithm()
	_, srcRSA := rsaAlgorithm(srcAlg)
	_, dstRSA := rsaAlgorithm(dstAlg)
	if !srcRSA {
		if err := checkAlgorithmAt("sourceEncryptionAlgorithm", srcAlg); err != nil {
			return nil, err
		}
		srcAlg = symmetricDefault
	}
	if !dstRSA {
		if err := checkAlgorithmAt("destinationEncryptionAlgorithm", dstAlg); err != nil {
			return nil, err
		}
		dstAlg = symmetricDefault
	}
	srcEC, dstEC := req.GetSourceEncryptionContext(), req.GetDestinationEncryptionContext()
	if err := checkContextAt("sourceEncryptionContext", srcEC); err != nil {
		return nil, err
	}
	if err := checkContextAt("destinationEncryptionContext", dstEC); err != nil {
		return nil, err
	}
	switch {
	case srcRSA && req.GetSourceKeyId() == "":
		return nil, errNoSourceKeyID("SourceKeyId", srcAlg)
	case srcRSA && len(srcEC) > 0, dstRSA && len(dstEC) > 0:
		return nil, errNoContext()
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	same := s.sameKey(p, req.GetCiphertextBlob(), req.GetSourceKeyId(), srcRSA, req.GetDestinationKeyId())
	from := &AuthzRequest{Principal: p, Action: "kms:ReEncryptFrom", EncryptionContext: srcEC, ReEncryptOnSameKey: &same}
	to := &AuthzRequest{Principal: p, Action: "kms:ReEncryptTo", EncryptionContext: dstEC, ReEncryptOnSameKey: &same}
	resp := &kmsv1.ReEncryptResponse{SourceEncryptionAlgorithm: srcAlg, DestinationEncryptionAlgorithm: dstAlg}

	// The source: a symmetric blob, or an RSA ciphertext of SourceKeyId.
	var open func() ([]byte, error)
	if srcRSA {
		from.EncryptionAlgorithm = srcAlg
		k, v, err := s.rsaKey(ctx, req.GetSourceKeyId(), from)
		if err != nil {
			return nil, err
		}
		resp.SourceKeyId = k.ARN
		open = func() ([]byte, error) { return s.oaepDecrypt(ctx, "ReEncrypt", k, v, srcAlg, req.GetCiphertextBlob()) }
	} else {
		src, err := s.ciphertextKey(ctx, req.GetCiphertextBlob(), req.GetSourceKeyId(), from)
		if err != nil {
			return nil, err
		}
		resp.SourceKeyId, resp.SourceKeyMaterialId = src.key.ARN, keyMaterialID(src.key, src.version)
		open = func() ([]byte, error) { return s.open(ctx, src, srcEC, "ReEncrypt") }
	}

	// The destination: a symmetric key, or an RSA key's public key.
	var seal func(pt []byte) ([]byte, error)
	if dstRSA {
		to.EncryptionAlgorithm = dstAlg
		k, v, err := s.rsaKey(ctx, req.GetDestinationKeyId(), to)
		if err != nil {
			return nil, err
		}
		pub, max, err := s.rsaPublicKey(ctx, "ReEncrypt", v, dstAlg)
		if err != nil {
			return nil, err
		}
		resp.KeyId = k.ARN
		seal = func(pt []byte) ([]byte, error) {
			if len(pt) > max {
				return nil, errPlaintextTooLong(dstAlg, k, max)
			}
			return s.oaepEncrypt(ctx, "ReEncrypt", pub, dstAlg, pt)
		}
	} else {
		dst, err := s.usableKey(ctx, req.GetDestinationKeyId(), to)
		if err != nil {
			return nil, err
		}
		cur, _ := dst.Current() // seal encrypts under it
		resp.KeyId, resp.DestinationKeyMaterialId = dst.ARN, keyMaterialID(dst, cur)
		seal = func(pt []byte) ([]byte, error) { return s.seal(ctx, dst, dstEC, pt) }
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	pt, err := open()
	if err != nil {
		return nil, err
	}
	resp.CiphertextBlob, err = seal(pt)
	clear(pt)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// sameKey reports whether the destination names the source key (the key
// the blob was encrypted under, or SourceKeyId for an RSA ciphertext),
// for kms:ReEncryptOnSameKey. Errors are left to the checks that report
// them.
func (s *Service) sameKey(p identity.Principal, raw []byte, sourceKeyID string, rsaSource bool, destination string) bool {
	var srcID string
	if rsaSource {
		k, err := s.resolveKey(p, sourceKeyID, true)
		if err != nil {
			return false
		}
		srcID = k.ID
	} else {
		b, err := ciphertext.Parse(raw)
		if err != nil {
			return false
		}
		srcID = formatUUID(b.KeyID)
	}
	k, err := s.resolveKey(p, destination, true)
	return err == nil && k.ID == srcID
}
