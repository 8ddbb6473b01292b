package kms

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/wire"
)

// curveOf maps the NIST ECC key specs to their curves.
var curveOf = map[string]elliptic.Curve{"ECC_NIST_P256": elliptic.P256(), "ECC_NIST_P384": elliptic.P384(), "ECC_NIST_P521": elliptic.P521()}

// peerPoint parses DeriveSharedSecret's PublicKey, a DER
// SubjectPublicKeyInfo of an EC key on curve, and returns its uncompressed
// point.
func peerPoint(der []byte, curve elliptic.Curve, spec string) ([]byte, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, validation("PublicKey is not a DER-encoded SubjectPublicKeyInfo of an EC public key.")
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != curve {
		return nil, validation("PublicKey is not a public key on the curve of key spec %s.", spec)
	}
	k, err := ec.ECDH()
	if err != nil {
		return nil, validation("PublicKey is not a valid point on the curve of key spec %s.", spec)
	}
	return k.Bytes(), nil
}

// DeriveSharedSecret derives the raw ECDH shared secret of a
// KEY_AGREEMENT key (inside the HSM) and a peer's public key.
func (s *Service) DeriveSharedSecret(ctx context.Context, req *kmsv1.DeriveSharedSecretRequest) (*kmsv1.DeriveSharedSecretResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	alg := req.GetKeyAgreementAlgorithm()
	switch n := len(req.GetPublicKey()); {
	case alg == "":
		return nil, validation("Value null at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must not be null")
	case alg != "ECDH":
		return nil, validation("Value '%s' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]", alg)
	case n == 0:
		return nil, validation("Value null at 'publicKey' failed to satisfy constraint: Member must not be null")
	case n > 8192:
		return nil, validation("Value at 'publicKey' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.authorizedKey(ctx, req.GetKeyId(), &AuthzRequest{Principal: p, Action: "kms:DeriveSharedSecret", KeyAgreementAlgorithm: alg})
	if err != nil {
		return nil, err
	}
	curve, ok := curveOf[k.KeySpec]
	if k.KeyUsage != keyAgreement || !ok {
		return nil, errKeyUsage(k, "DeriveSharedSecret")
	}
	peer, err := peerPoint(req.GetPublicKey(), curve, k.KeySpec)
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	v, ok := k.Current()
	if !ok {
		return nil, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	ka, ok := s.hsm.(hsm.KeyAgreer)
	if !ok {
		return nil, newError(wire.UnsupportedOperation, "This node's HSM backend has no key agreement.")
	}
	ref, err := s.keyRef(ctx, "DeriveSharedSecret", k, v)
	if err != nil {
		return nil, err
	}
	secret, err := ka.ECDH(ctx, ref, peer)
	if err != nil {
		return nil, s.internal(ctx, "DeriveSharedSecret", errors.Join(errors.New("ECDH"), err))
	}
	return &kmsv1.DeriveSharedSecretResponse{KeyId: k.ARN, SharedSecret: secret, KeyAgreementAlgorithm: alg, KeyOrigin: k.Origin}, nil
}
