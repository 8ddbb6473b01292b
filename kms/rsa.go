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

// rsaKey resolves keyID, authorizes r (its Key filled in; r carries the
// action and algorithm) and checks the key of an RSA encryption: an RSA
// key of usage ENCRYPT_DECRYPT, usable now.
func (s *Service) rsaKey(ctx context.Context, keyID string, r *AuthzRequest) (*fsm.Key, fsm.KeyVersion, error) {
	k, err := s.authorizedKey(ctx, keyID, r)
	if err != nil {
		return nil, fsm.KeyVersion{}, err
	}
	if k.KeyUsage != encryptDecrypt || !strings.HasPrefix(k.KeySpec, "RSA_") {
		return nil, fsm.KeyVersion{}, errAlgorithmForSpec(r.EncryptionAlgorithm, k)
	}
	v, ok := k.Current()
	if !ok || len(v.PublicKey) == 0 {
		return nil, fsm.KeyVersion{}, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	return k, v, nil
}

// rsaPublicKey returns the RSA public key of a key version and the
// longest plaintext alg encrypts with it (AWS's limits: 214 and 190
// bytes for RSA_2048 with SHA-1 and SHA-256, and so on).
func (s *Service) rsaPublicKey(ctx context.Context, op string, v fsm.KeyVersion, alg string) (*rsa.PublicKey, int, error) {
	h, _ := rsaAlgorithm(alg)
	pub, err := parsePublicKey(v.PublicKey)
	if err != nil {
		return nil, 0, s.internal(ctx, op, err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, 0, s.internal(ctx, op, errors.New("the public key of an RSA key is not RSA"))
	}
	return rk, rk.Size() - 2*h.Size() - 2, nil
}

func errPlaintextTooLong(alg string, k *fsm.Key, max int) error {
	return validation("Plaintext is too long for %s with %s: at most %d bytes.", alg, k.KeySpec, max)
}

// oaepEncrypt encrypts pt to k's public key; pt fits (rsaPublicKey).
func (s *Service) oaepEncrypt(ctx context.Context, op string, pub *rsa.PublicKey, alg string, pt []byte) ([]byte, error) {
	h, _ := rsaAlgorithm(alg)
	ct, err := rsa.EncryptOAEP(h.New(), s.rand, pub, pt, nil)
	if err != nil {
		return nil, s.internal(ctx, op, err)
	}
	return ct, nil
}

// oaepDecrypt decrypts ct with k's private key inside the HSM; a
// ciphertext that does not decrypt is InvalidCiphertextException.
func (s *Service) oaepDecrypt(ctx context.Context, op string, k *fsm.Key, v fsm.KeyVersion, alg string, ct []byte) ([]byte, error) {
	h, _ := rsaAlgorithm(alg)
	d, ok := s.hsm.(hsm.Decrypter)
	if !ok {
		return nil, newError(wire.UnsupportedOperation, "This node's HSM backend cannot decrypt with RSA keys.")
	}
	ref, err := s.keyRef(ctx, op, k, v)
	if err != nil {
		return nil, err
	}
	pt, err := d.DecryptOAEP(ctx, ref, h, ct)
	if err != nil {
		if errors.Is(err, hsm.ErrAuthentication) {
			return nil, errInvalidCiphertext()
		}
		return nil, s.internal(ctx, op, err)
	}
	return pt, nil
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
	if len(req.GetEncryptionContext()) > 0 {
		return nil, errNoContext()
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, v, err := s.rsaKey(ctx, req.GetKeyId(), &AuthzRequest{Principal: p, Action: "kms:Encrypt", EncryptionAlgorithm: alg})
	if err != nil {
		return nil, err
	}
	pub, max, err := s.rsaPublicKey(ctx, "Encrypt", v, alg)
	if err != nil {
		return nil, err
	}
	if len(req.GetPlaintext()) > max {
		return nil, errPlaintextTooLong(alg, k, max)
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	ct, err := s.oaepEncrypt(ctx, "Encrypt", pub, alg, req.GetPlaintext())
	if err != nil {
		return nil, err
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: ct, KeyId: k.ARN, EncryptionAlgorithm: alg}, nil
}

func errNoSourceKeyID(member, alg string) error {
	return validation("%s is required to decrypt with %s: an asymmetric ciphertext does not name its key.", member, alg)
}

// decryptRSA is Decrypt with an RSAES_OAEP algorithm.
func (s *Service) decryptRSA(ctx context.Context, p identity.Principal, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	alg := req.GetEncryptionAlgorithm()
	if req.GetKeyId() == "" {
		return nil, errNoSourceKeyID("KeyId", alg)
	}
	if len(req.GetEncryptionContext()) > 0 {
		return nil, errNoContext()
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, v, err := s.rsaKey(ctx, req.GetKeyId(), &AuthzRequest{Principal: p, Action: "kms:Decrypt", EncryptionAlgorithm: alg})
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	pt, err := s.oaepDecrypt(ctx, "Decrypt", k, v, alg, req.GetCiphertextBlob())
	if err != nil {
		return nil, err
	}
	return &kmsv1.DecryptResponse{KeyId: k.ARN, Plaintext: pt, EncryptionAlgorithm: alg}, nil
}
