package kms

import (
	"context"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // RSAES_OAEP_SHA_1
	"errors"
	"strings"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// RSA encryption (keys RSA_2048/3072/4096 of usage ENCRYPT_DECRYPT):
// Encrypt uses the public key in the replicated state, Decrypt the
// private key inside the HSM. The ciphertext is the bare RSAES-OAEP
// output, with no header, as on AWS; so Decrypt needs KeyId and
// EncryptionAlgorithm, and there is no encryption context.

// rsaAlgorithm reports whether alg is an RSA encryption algorithm, and its
// hash.
func rsaAlgorithm(alg string) (crypto.Hash, bool) {
	switch alg {
	case "RSAES_OAEP_SHA_1":
		return crypto.SHA1, true
	case "RSAES_OAEP_SHA_256":
		return crypto.SHA256, true
	}
	return 0, false
}

// rsaKey resolves, authorizes and checks the key of an RSA Encrypt or
// Decrypt: an RSA key of usage ENCRYPT_DECRYPT, usable now.
func (s *Service) rsaKey(ctx context.Context, p identity.Principal, keyID, action, alg string) (*fsm.Key, fsm.KeyVersion, error) {
	k, err := s.authorizedKey(ctx, keyID, &AuthzRequest{Principal: p, Action: action, EncryptionAlgorithm: alg})
	if err != nil {
		return nil, fsm.KeyVersion{}, err
	}
	if k.KeyUsage != encryptDecrypt || !strings.HasPrefix(k.KeySpec, "RSA_") {
		return nil, fsm.KeyVersion{}, errAlgorithmForSpec(alg, k)
	}
	v, ok := k.Current()
	if !ok || len(v.PublicKey) == 0 {
		return nil, fsm.KeyVersion{}, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	return k, v, nil
}

func errAlgorithmForSpec(alg string, k *fsm.Key) error {
	if k.KeyUsage != encryptDecrypt {
		return errKeyUsage(k, "this encryption algorithm")
	}
	return newError(wire.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.KeySpec)
}

// errNoContext refuses an encryption context with an asymmetric key.
func errNoContext() error {
	return validation("EncryptionContext is not supported with asymmetric keys: asymmetric algorithms do not support an encryption context.")
}

// encryptRSA is Encrypt with an RSAES_OAEP algorithm.
func (s *Service) encryptRSA(ctx context.Context, p identity.Principal, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	alg := req.GetEncryptionAlgorithm()
	h, _ := rsaAlgorithm(alg)
	if len(req.GetEncryptionContext()) > 0 {
		return nil, errNoContext()
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, v, err := s.rsaKey(ctx, p, req.GetKeyId(), "kms:Encrypt", alg)
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicKey(v.PublicKey)
	if err != nil {
		return nil, s.internal(ctx, "Encrypt", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, s.internal(ctx, "Encrypt", errors.New("the public key of an RSA key is not RSA"))
	}
	if max := rk.Size() - 2*h.Size() - 2; len(req.GetPlaintext()) > max {
		return nil, validation("Plaintext is too long for %s with %s: at most %d bytes.", alg, k.KeySpec, max)
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	ct, err := rsa.EncryptOAEP(h.New(), s.rand, rk, req.GetPlaintext(), nil)
	if err != nil {
		return nil, s.internal(ctx, "Encrypt", err)
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: ct, KeyId: k.ARN, EncryptionAlgorithm: alg}, nil
}

// decryptRSA is Decrypt with an RSAES_OAEP algorithm.
func (s *Service) decryptRSA(ctx context.Context, p identity.Principal, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	alg := req.GetEncryptionAlgorithm()
	h, _ := rsaAlgorithm(alg)
	if req.GetKeyId() == "" {
		return nil, validation("KeyId is required to decrypt with %s: an asymmetric ciphertext does not name its key.", alg)
	}
	if len(req.GetEncryptionContext()) > 0 {
		return nil, errNoContext()
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, v, err := s.rsaKey(ctx, p, req.GetKeyId(), "kms:Decrypt", alg)
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	d, ok := s.hsm.(hsm.Decrypter)
	if !ok {
		return nil, newError(wire.UnsupportedOperation, "This node's HSM backend cannot decrypt with RSA keys.")
	}
	ref, err := s.keyRef(ctx, "Decrypt", k, v)
	if err != nil {
		return nil, err
	}
	pt, err := d.DecryptOAEP(ctx, ref, h, req.GetCiphertextBlob())
	if err != nil {
		if errors.Is(err, hsm.ErrAuthentication) {
			return nil, errInvalidCiphertext()
		}
		return nil, s.internal(ctx, "Decrypt", err)
	}
	return &kmsv1.DecryptResponse{KeyId: k.ARN, Plaintext: pt, EncryptionAlgorithm: alg}, nil
}
