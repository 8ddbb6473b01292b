package kms

import (
	"context"
	"errors"

	"github.com/trentkms/trent/ciphertext"
	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

const symmetricDefault = "SYMMETRIC_DEFAULT"

const encryptionAlgorithms = "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"

// checkAlgorithm validates an EncryptionAlgorithm member for a symmetric key.
func checkAlgorithm(alg string) error { return checkAlgorithmAt("encryptionAlgorithm", alg) }

// checkAlgorithmAt validates the encryption algorithm member named member.
func checkAlgorithmAt(member, alg string) error {
	switch {
	case alg == "" || alg == symmetricDefault:
		return nil
	case enumContains(encryptionAlgorithms, alg):
		return newError(wire.InvalidKeyUsage, "The encryption algorithm %s is not supported by a symmetric encryption key.", alg)
	default:
		return validation("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: %s", alg, member, encryptionAlgorithms)
	}
}

// checkContext validates an encryption context; a bad one is a
// ValidationException naming the rule it breaks (never its values).
func checkContext(ec map[string]string) error { return checkContextAt("encryptionContext", ec) }

// checkContextAt validates the encryption context member named member.
func checkContextAt(member string, ec map[string]string) error {
	if _, err := ciphertext.CanonicalContext(ec); err != nil {
		return contextErrorAt(member, err)
	}
	return nil
}

func contextError(err error) error { return contextErrorAt("encryptionContext", err) }

func contextErrorAt(member string, err error) error {
	rule := err.Error()
	if ce := (*ciphertext.ContextError)(nil); errors.As(err, &ce) {
		rule = ce.Rule
	}
	return validation("Value at '%s' failed to satisfy constraint: %s", member, rule)
}

// cryptoKey resolves and authorizes a key for a symmetric cryptographic
// operation and checks that it can encrypt now.
func (s *Service) cryptoKey(ctx context.Context, p identity.Principal, keyID, action string, ec map[string]string) (*fsm.Key, error) {
	return s.usableKey(ctx, keyID, &AuthzRequest{Principal: p, Action: action, EncryptionContext: ec})
}

// usableKey is cryptoKey for an authorization request r with more
// condition keys; it fills in r's Key and RequestAlias.
func (s *Service) usableKey(ctx context.Context, keyID string, r *AuthzRequest) (*fsm.Key, error) {
	k, err := s.authorizedKey(ctx, keyID, r)
	if err != nil {
		return nil, err
	}
	if k.KeyUsage == encryptDecrypt && k.KeySpec != symmetricDefault {
		return nil, errAlgorithmForSpec(symmetricDefault, k)
	}
	if k.KeyUsage != "ENCRYPT_DECRYPT" || k.KeySpec != symmetricDefault {
		return nil, newError(wire.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", k.ARN, k.KeyUsage, r.Action)
	}
	return k, nil
}

// seal encrypts plaintext under the key's current material and returns
// the ciphertext blob.
func (s *Service) seal(ctx context.Context, k *fsm.Key, ec map[string]string, plaintext []byte) ([]byte, error) {
	v, ok := k.Current()
	if !ok {
		return nil, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	keyID, err := parseUUID(k.ID)
	if err != nil {
		return nil, s.internal(ctx, "seal", err)
	}
	versionID, err := parseVersion(v.ID)
	if err != nil {
		return nil, s.internal(ctx, "seal", err)
	}
	b := ciphertext.Blob{KeyID: keyID, VersionID: versionID}
	if _, err := s.rand.Read(b.Nonce[:]); err != nil {
		return nil, s.internal(ctx, "seal", err)
	}
	aad, err := ciphertext.AAD(b.Header(), ec)
	if err != nil {
		return nil, contextError(err)
	}
	ref := hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: v.EKT}
	body, err := s.hsm.Seal(ctx, ref, b.Nonce, aad, plaintext)
	if err != nil {
		return nil, s.internal(ctx, "seal", err)
	}
	b.Body = body
	return b.Marshal(), nil
}

// Encrypt encrypts up to 4096 bytes under a symmetric key.
func (s *Service) Encrypt(ctx context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	switch n := len(req.GetPlaintext()); {
	case n == 0:
		return nil, validation("Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > ciphertext.MaxPlaintext:
		return nil, validation("Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")
	}
	if _, ok := rsaAlgorithm(req.GetEncryptionAlgorithm()); ok {
		return s.encryptRSA(ctx, p, req)
	}
	if err := checkAlgorithm(req.GetEncryptionAlgorithm()); err != nil {
		return nil, err
	}
	if err := checkContext(req.GetEncryptionContext()); err != nil {
		return nil, err
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.cryptoKey(ctx, p, req.GetKeyId(), "kms:Encrypt", req.GetEncryptionContext())
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	blob, err := s.seal(ctx, k, req.GetEncryptionContext(), req.GetPlaintext())
	if err != nil {
		return nil, err
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: blob, KeyId: k.ARN, EncryptionAlgorithm: symmetricDefault}, nil
}

// errUnknownCiphertextKey is AWS's answer when a blob names a key the
// caller cannot see: it does not reveal whether the key exists.
func errUnknownCiphertextKey() error {
	return newError(wire.AccessDenied, "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")
}

func errInvalidCiphertext() error {
	return newError(wire.InvalidCiphertext, "The ciphertext is invalid, or was not encrypted under this encryption context.")
}

// Decrypt decrypts a ciphertext blob. KeyId is optional: the blob names its
// key; if KeyId is given and names another key, the answer is
// IncorrectKeyException.
func (s *Service) Decrypt(ctx context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkCiphertextBlob(req.GetCiphertextBlob()); err != nil {
		return nil, err
	}
	if _, ok := rsaAlgorithm(req.GetEncryptionAlgorithm()); ok {
		return s.decryptRSA(ctx, p, req)
	}
	if err := checkAlgorithm(req.GetEncryptionAlgorithm()); err != nil {
		return nil, err
	}
	if err := checkContext(req.GetEncryptionContext()); err != nil {
		return nil, err
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	src, err := s.ciphertextKey(ctx, req.GetCiphertextBlob(), req.GetKeyId(),
		&AuthzRequest{Principal: p, Action: "kms:Decrypt", EncryptionContext: req.GetEncryptionContext()})
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	pt, err := s.open(ctx, src, req.GetEncryptionContext(), "Decrypt")
	if err != nil {
		return nil, err
	}
	return &kmsv1.DecryptResponse{KeyId: src.key.ARN, Plaintext: pt, EncryptionAlgorithm: symmetricDefault,
		KeyMaterialId: keyMaterialID(src.key, src.version)}, nil
}

func checkCiphertextBlob(b []byte) error {
	switch n := len(b); {
	case n == 0:
		return validation("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > 6144:
		return validation("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144")
	}
	return nil
}

// sealed is a parsed ciphertext blob with the key and version it names.
type sealed struct {
	blob    *ciphertext.Blob
	key     *fsm.Key
	version fsm.KeyVersion
}

// ciphertextKey finds the key a ciphertext blob names, authorizes r (the
// principal, action, encryption context and any other condition keys; it
// gets the key filled in) and checks the key can decrypt now: Decrypt, and
// ReEncrypt's source. keyID is the request's optional KeyId or
// SourceKeyId: if it names another key than the blob, the answer is
// IncorrectKeyException. Without it, a key the caller may not use is
// indistinguishable from one that does not exist, as in AWS.
func (s *Service) ciphertextKey(ctx context.Context, raw []byte, keyID string, r *AuthzRequest) (*sealed, error) {
	p := r.Principal
	blob, err := ciphertext.Parse(raw)
	if err != nil {
		return nil, errInvalidCiphertext()
	}
	k, ok := s.store.Key(formatUUID(blob.KeyID))
	if !ok || !hasVersion(k, blob.VersionID) {
		// A genuine ciphertext names a key and version of the replicated
		// state; a node that lacks them lags (a bounded read may), and
		// looks again on fresh state before it refuses the ciphertext, as
		// writes do (found by the Jepsen harness under slow links: a
		// Decrypt right after a rotation answered InvalidCiphertext).
		if err := s.linearize(ctx, 0); err != nil {
			return nil, err
		}
		k, ok = s.store.Key(formatUUID(blob.KeyID))
	}
	if keyID != "" {
		named, err := s.resolveKey(p, keyID, true)
		if err != nil {
			return nil, err
		}
		if !ok || named.ID != k.ID {
			return nil, newError(wire.IncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	} else if !ok {
		return nil, errUnknownCiphertextKey()
	}
	r.Key, r.RequestAlias = k, requestAlias(keyID)
	if err := s.authorizeRequest(ctx, r); err != nil {
		if keyID == "" {
			return nil, errUnknownCiphertextKey()
		}
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	if k.KeyUsage != "ENCRYPT_DECRYPT" || k.KeySpec != symmetricDefault {
		return nil, newError(wire.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", k.ARN, k.KeyUsage, r.Action)
	}
	v, ok := k.Version(versionHex(blob.VersionID))
	if !ok {
		return nil, errInvalidCiphertext()
	}
	return &sealed{blob: blob, key: k, version: v}, nil
}

// hasVersion says whether k has the key version a blob names.
func hasVersion(k *fsm.Key, versionID [16]byte) bool {
	_, ok := k.Version(versionHex(versionID))
	return ok
}

// open decrypts c with encryption context ec inside the HSM.
func (s *Service) open(ctx context.Context, c *sealed, ec map[string]string, op string) ([]byte, error) {
	aad, err := ciphertext.AAD(c.blob.Header(), ec)
	if err != nil {
		return nil, errInvalidCiphertext()
	}
	ref := hsm.KeyRef{KeyID: c.blob.KeyID, VersionID: c.blob.VersionID, Spec: hsm.SymmetricDefault, EKT: c.version.EKT}
	pt, err := s.hsm.Open(ctx, ref, c.blob.Nonce, aad, c.blob.Body)
	if err != nil {
		if errors.Is(err, hsm.ErrAuthentication) {
			return nil, errInvalidCiphertext()
		}
		return nil, s.internal(ctx, op, err)
	}
	return pt, nil
}

// dataKeySize validates KeySpec / NumberOfBytes: exactly one must be set.
func dataKeySize(spec string, n *int32) (int, error) {
	switch {
	case spec != "" && n != nil:
		return 0, validation("Please specify either number of bytes or key spec, not both.")
	case spec == "AES_256":
		return 32, nil
	case spec == "AES_128":
		return 16, nil
	case spec != "":
		return 0, validation("Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", spec)
	case n == nil:
		return 0, validation("Please specify either number of bytes or key spec.")
	case *n < 1:
		return 0, validation("Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1", *n)
	case *n > 1024:
		return 0, validation("Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", *n)
	}
	return int(*n), nil
}

// generateDataKey is GenerateDataKey and its WithoutPlaintext twin.
func (s *Service) generateDataKey(ctx context.Context, action, keyID, spec string, n *int32, ec map[string]string, tokens []string, dry bool) (*fsm.Key, []byte, []byte, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	size, err := dataKeySize(spec, n)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkContext(ec); err != nil {
		return nil, nil, nil, err
	}
	if err := s.useGrantTokens(ctx, tokens); err != nil {
		return nil, nil, nil, err
	}
	k, err := s.cryptoKey(ctx, p, keyID, action, ec)
	if err != nil {
		return nil, nil, nil, err
	}
	if dry {
		return nil, nil, nil, dryRun()
	}
	pt, err := s.hsm.Random(ctx, size)
	if err != nil {
		return nil, nil, nil, s.internal(ctx, action, err)
	}
	blob, err := s.seal(ctx, k, ec, pt)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, pt, blob, nil
}

// GenerateDataKey returns a random data key in plaintext and encrypted.
func (s *Service) GenerateDataKey(ctx context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	k, pt, blob, err := s.generateDataKey(ctx, "kms:GenerateDataKey", req.GetKeyId(), req.GetKeySpec(), req.NumberOfBytes,
		req.GetEncryptionContext(), req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: k.ARN, KeyMaterialId: currentKeyMaterialID(k)}, nil
}

// GenerateDataKeyWithoutPlaintext returns a random data key, encrypted only.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	k, pt, blob, err := s.generateDataKey(ctx, "kms:GenerateDataKeyWithoutPlaintext", req.GetKeyId(), req.GetKeySpec(), req.NumberOfBytes,
		req.GetEncryptionContext(), req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	clear(pt)
	return &kmsv1.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: k.ARN, KeyMaterialId: currentKeyMaterialID(k)}, nil
}

// GenerateRandom returns 1 to 1024 random bytes from the HSM.
func (s *Service) GenerateRandom(ctx context.Context, req *kmsv1.GenerateRandomRequest) (*kmsv1.GenerateRandomResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCustomKeyStoreId() != "" {
		return nil, newError(wire.UnsupportedOperation, "Custom key stores are not supported by Trent.")
	}
	n := req.NumberOfBytes
	switch {
	case n == nil:
		return nil, validation("Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
	case *n < 1:
		return nil, validation("Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1", *n)
	case *n > 1024:
		return nil, validation("Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", *n)
	}
	if err := s.authorize(ctx, p, "kms:GenerateRandom", nil, nil); err != nil {
		return nil, err
	}
	b, err := s.hsm.Random(ctx, int(*n))
	if err != nil {
		return nil, s.internal(ctx, "GenerateRandom", err)
	}
	return &kmsv1.GenerateRandomResponse{Plaintext: b}, nil
}
