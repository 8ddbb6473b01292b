package kms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm/keys"
	"github.com/trentkms/trent/wire"
)

const dataKeyPairSpecs = "[RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SM2, ECC_NIST_EDWARDS25519]"

// checkKeyPairSpec validates a KeyPairSpec member: AWS's enum, and the
// specs Trent generates.
func checkKeyPairSpec(spec string) error {
	switch {
	case spec == "":
		return validation("Value null at 'keyPairSpec' failed to satisfy constraint: Member must not be null")
	case !enumContains(dataKeyPairSpecs, spec):
		return validation("Value '%s' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: %s", spec, dataKeyPairSpecs)
	case spec == "SM2":
		return newError(wire.UnsupportedOperation, "KeyPairSpec %s %s.", spec, keySpecInfos[spec].why)
	}
	return nil
}

// newKeyPair generates a data key pair of spec (valid) and returns its
// public key (DER SubjectPublicKeyInfo) and private key (DER PKCS#8). The
// pair is returned to the caller, so, like a data key, it is made in the
// service, from Go's cryptographic generator (which Go's key generation
// always uses).
func newKeyPair(spec string) (public, private []byte, err error) {
	var k crypto.Signer
	switch spec {
	case "RSA_2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA_3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA_4096":
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ECC_NIST_P256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECC_NIST_P384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECC_NIST_P521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ECC_SECG_P256K1":
		k, err = keys.GenerateSecp256k1(rand.Reader)
	case "ECC_NIST_EDWARDS25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, nil, err
	}
	if public, err = keys.MarshalPublicKey(k.Public()); err != nil {
		return nil, nil, err
	}
	private, err = keys.MarshalPrivateKey(k)
	return public, private, err
}

// generateDataKeyPair is GenerateDataKeyPair and its WithoutPlaintext
// twin: a key pair whose private key is also returned encrypted under a
// symmetric key, with the encryption context, as a normal ciphertext.
func (s *Service) generateDataKeyPair(ctx context.Context, action, keyID, spec string, ec map[string]string, tokens []string, dry bool) (k *fsm.Key, pub, priv, blob []byte, err error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkKeyPairSpec(spec); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkContext(ec); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := s.useGrantTokens(ctx, tokens); err != nil {
		return nil, nil, nil, nil, err
	}
	k, err = s.usableKey(ctx, keyID, &AuthzRequest{Principal: p, Action: action, EncryptionContext: ec, DataKeyPairSpec: spec})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if dry {
		return nil, nil, nil, nil, dryRun()
	}
	pub, priv, err = newKeyPair(spec)
	if err != nil {
		return nil, nil, nil, nil, s.internal(ctx, action, err)
	}
	blob, err = s.seal(ctx, k, ec, priv)
	if err != nil {
		clear(priv)
		return nil, nil, nil, nil, err
	}
	return k, pub, priv, blob, nil
}

// GenerateDataKeyPair returns a key pair: the public key, the private key
// in plaintext and encrypted under a symmetric key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, req *kmsv1.GenerateDataKeyPairRequest) (*kmsv1.GenerateDataKeyPairResponse, error) {
	k, pub, priv, blob, err := s.generateDataKeyPair(ctx, "kms:GenerateDataKeyPair", req.GetKeyId(), req.GetKeyPairSpec(),
		req.GetEncryptionContext(), req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateDataKeyPairResponse{PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub,
		KeyId: k.ARN, KeyPairSpec: req.GetKeyPairSpec(), KeyMaterialId: currentKeyMaterialID(k)}, nil
}

// GenerateDataKeyPairWithoutPlaintext returns a key pair's public key and
// its private key encrypted under a symmetric key, not in plaintext.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyPairWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyPairWithoutPlaintextResponse, error) {
	k, pub, priv, blob, err := s.generateDataKeyPair(ctx, "kms:GenerateDataKeyPairWithoutPlaintext", req.GetKeyId(), req.GetKeyPairSpec(),
		req.GetEncryptionContext(), req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	clear(priv)
	return &kmsv1.GenerateDataKeyPairWithoutPlaintextResponse{PrivateKeyCiphertextBlob: blob, PublicKey: pub,
		KeyId: k.ARN, KeyPairSpec: req.GetKeyPairSpec(), KeyMaterialId: currentKeyMaterialID(k)}, nil
}
