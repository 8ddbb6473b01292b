package kms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"fmt"
	"slices"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keys"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// Key usages.
const (
	encryptDecrypt    = "ENCRYPT_DECRYPT"
	signVerify        = "SIGN_VERIFY"
	generateVerifyMac = "GENERATE_VERIFY_MAC"
	keyAgreement      = "KEY_AGREEMENT"
)

// keySpecInfo is what AWS allows a key spec (reference section 4.4): its
// usages, and what Trent serves of them.
type keySpecInfo struct {
	usages  []string // every usage AWS allows
	served  []string // the usages Trent serves
	signing []string // SigningAlgorithms, for SIGN_VERIFY
	// encryption are the EncryptionAlgorithms of an asymmetric
	// ENCRYPT_DECRYPT key.
	encryption []string
	mac        string // the MacAlgorithm, for GENERATE_VERIFY_MAC
	why        string // why a usage AWS allows is not served
}

var (
	rsaSigning = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}
	notYet     = "is not supported by this Trent version yet"
	rsaInfo    = keySpecInfo{usages: []string{encryptDecrypt, signVerify}, served: []string{encryptDecrypt, signVerify}, signing: rsaSigning,
		encryption: []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}}
	mlDSAInfo    = keySpecInfo{usages: []string{signVerify}, served: []string{signVerify}, signing: []string{"ML_DSA_SHAKE_256"}}
	keySpecInfos = map[string]keySpecInfo{
		symmetricDefault:        {usages: []string{encryptDecrypt}, served: []string{encryptDecrypt}},
		"RSA_2048":              rsaInfo,
		"RSA_3072":              rsaInfo,
		"RSA_4096":              rsaInfo,
		"ECC_NIST_P256":         {usages: []string{signVerify, keyAgreement}, served: []string{signVerify, keyAgreement}, signing: []string{"ECDSA_SHA_256"}},
		"ECC_NIST_P384":         {usages: []string{signVerify, keyAgreement}, served: []string{signVerify, keyAgreement}, signing: []string{"ECDSA_SHA_384"}},
		"ECC_NIST_P521":         {usages: []string{signVerify, keyAgreement}, served: []string{signVerify, keyAgreement}, signing: []string{"ECDSA_SHA_512"}},
		"ECC_SECG_P256K1":       {usages: []string{signVerify}, served: []string{signVerify}, signing: []string{"ECDSA_SHA_256"}},
		"ECC_NIST_EDWARDS25519": {usages: []string{signVerify}, served: []string{signVerify}, signing: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}},
		"ML_DSA_44":             mlDSAInfo,
		"ML_DSA_65":             mlDSAInfo,
		"ML_DSA_87":             mlDSAInfo,
		"SM2":                   {usages: []string{encryptDecrypt, signVerify, keyAgreement}, why: "is not supported by Trent: AWS offers SM2 only in China Regions"},
		"HMAC_224":              {usages: []string{generateVerifyMac}, served: []string{generateVerifyMac}, mac: "HMAC_SHA_224"},
		"HMAC_256":              {usages: []string{generateVerifyMac}, served: []string{generateVerifyMac}, mac: "HMAC_SHA_256"},
		"HMAC_384":              {usages: []string{generateVerifyMac}, served: []string{generateVerifyMac}, mac: "HMAC_SHA_384"},
		"HMAC_512":              {usages: []string{generateVerifyMac}, served: []string{generateVerifyMac}, mac: "HMAC_SHA_512"},
	}
	signingAlgorithms = "[RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512, ECDSA_SHA_256, ECDSA_SHA_384, ECDSA_SHA_512, SM2DSA, ML_DSA_SHAKE_256, ED25519_SHA_512, ED25519_PH_SHA_512]"
	macAlgorithms     = "[HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384, HMAC_SHA_512]"
	messageTypes      = "[RAW, DIGEST, EXTERNAL_MU]"
)

// keyUsageFor decides CreateKey's KeySpec and KeyUsage pair: the usage
// the key gets, or AWS's error for a pair it refuses (ValidationException)
// and Trent's for one it does not serve (UnsupportedOperationException).
func keyUsageFor(spec, usage string) (string, error) {
	info := keySpecInfos[spec]
	switch {
	case spec == "SM2" && (usage == "" || slices.Contains(info.usages, usage)):
		return "", newError(wire.UnsupportedOperation, "KeySpec SM2 is not supported by Trent: AWS offers SM2 only in China Regions.")
	case usage == "" && spec == symmetricDefault:
		return encryptDecrypt, nil
	case usage == "":
		return "", validation("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
	case !slices.Contains(info.usages, usage):
		return "", validation("KeyUsage %s is not compatible with KeySpec %s.", usage, spec)
	case !slices.Contains(info.served, usage):
		return "", newError(wire.UnsupportedOperation, "KeySpec %s with KeyUsage %s %s.", spec, usage, info.why)
	}
	return usage, nil
}

// backendSpec returns the HSM spec of a served key spec and checks that
// the node's backend generates it: a backend without asymmetric or HMAC
// keys answers UnsupportedOperationException.
func (s *Service) backendSpec(spec string) (hsm.KeySpec, error) {
	hs, ok := hsm.ParseKeySpec(spec)
	if !ok {
		return 0, newError(wire.UnsupportedOperation, "KeySpec %s %s.", spec, notYet)
	}
	if hs == hsm.SymmetricDefault {
		return hs, nil
	}
	c, ok := s.hsm.(interface{ Capabilities() hsm.Capabilities })
	_, signs := s.hsm.(hsm.Signer)
	_, macs := s.hsm.(hsm.KeyMACer)
	if !ok || !c.Capabilities().Supports(hs) || hs.Asymmetric() && !signs || hs.HMAC() && !macs {
		name := "this"
		if ok {
			name = "the " + c.Capabilities().Name
		}
		return 0, newError(wire.UnsupportedOperation, "KeySpec %s is not supported by %s HSM backend.", spec, name)
	}
	return hs, nil
}

// setAlgorithms fills in a key's algorithm lists in m by its usage.
func setAlgorithms(m *kmsv1.KeyMetadata, k *fsm.Key) {
	info := keySpecInfos[k.KeySpec]
	switch k.KeyUsage {
	case encryptDecrypt:
		m.EncryptionAlgorithms = []string{symmetricDefault}
		if k.KeySpec != symmetricDefault {
			m.EncryptionAlgorithms = slices.Clone(info.encryption)
		}
	case signVerify:
		m.EncryptionAlgorithms, m.SigningAlgorithms = nil, slices.Clone(info.signing)
	case generateVerifyMac:
		m.EncryptionAlgorithms, m.MacAlgorithms = nil, []string{info.mac}
	case keyAgreement:
		m.KeyAgreementAlgorithms = []string{"ECDH"}
	}
}

// keyRef names a key version for the HSM.
func (s *Service) keyRef(ctx context.Context, op string, k *fsm.Key, v fsm.KeyVersion) (hsm.KeyRef, error) {
	keyID, err := parseUUID(k.ID)
	if err != nil {
		return hsm.KeyRef{}, s.internal(ctx, op, err)
	}
	versionID, err := parseVersion(v.ID)
	if err != nil {
		return hsm.KeyRef{}, s.internal(ctx, op, err)
	}
	spec, ok := hsm.ParseKeySpec(k.KeySpec)
	if !ok {
		return hsm.KeyRef{}, s.internal(ctx, op, fmt.Errorf("key spec %s", k.KeySpec))
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: spec, EKT: v.EKT}, nil
}

// authorizedKey resolves keyID for r's principal, authorizes r (its Key
// and RequestAlias filled in) and checks the key is usable now.
func (s *Service) authorizedKey(ctx context.Context, keyID string, r *AuthzRequest) (*fsm.Key, error) {
	k, err := s.resolveKey(r.Principal, keyID, true)
	if err != nil {
		return nil, err
	}
	r.Key, r.RequestAlias = k, requestAlias(keyID)
	if err := s.authorizeRequest(ctx, r); err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	return k, nil
}

func errKeyUsage(k *fsm.Key, op string) error {
	return newError(wire.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", k.ARN, k.KeyUsage, op)
}

// checkMessage validates Sign's, Verify's, GenerateMac's and VerifyMac's
// Message member: 1 to 4096 bytes.
func checkMessage(msg []byte) error {
	switch n := len(msg); {
	case n == 0:
		return validation("Value at 'message' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > 4096:
		return validation("Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")
	}
	return nil
}

// checkBlob validates a 1-6144 byte member (Signature, Mac).
func checkBlob(member string, b []byte) error {
	switch n := len(b); {
	case n == 0:
		return validation("Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", member)
	case n > 6144:
		return validation("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 6144", member)
	}
	return nil
}

// signRequest is the validated common part of Sign and Verify.
type signRequest struct {
	alg         hsm.SigningAlgorithm
	algName     string
	messageType string
	msg         []byte
}

// parseSignRequest validates Sign's and Verify's members before the key
// is known: the message, the algorithm and the message type.
func parseSignRequest(msg []byte, alg, messageType string) (*signRequest, error) {
	if err := checkMessage(msg); err != nil {
		return nil, err
	}
	if alg == "" {
		return nil, validation("Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null")
	}
	if !enumContains(signingAlgorithms, alg) {
		return nil, validation("Value '%s' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: %s", alg, signingAlgorithms)
	}
	if messageType == "" {
		messageType = "RAW"
	} else if !enumContains(messageTypes, messageType) {
		return nil, validation("Value '%s' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: %s", messageType, messageTypes)
	}
	a, _ := hsm.ParseSigningAlgorithm(alg) // 0 for SM2DSA, which no key of Trent's has
	if a == hsm.MlDsaShake256 && messageType == "EXTERNAL_MU" {
		a = hsm.MlDsaExternalMu
	}
	return &signRequest{alg: a, algName: alg, messageType: messageType, msg: msg}, nil
}

// signingKey resolves, authorizes and checks the key of a Sign or Verify:
// a SIGN_VERIFY key whose spec has the algorithm, in a usable state.
func (s *Service) signingKey(ctx context.Context, p identity.Principal, keyID, action string, r *signRequest) (*fsm.Key, fsm.KeyVersion, error) {
	k, err := s.authorizedKey(ctx, keyID, &AuthzRequest{Principal: p, Action: action,
		SigningAlgorithm: r.algName, MessageType: r.messageType})
	if err != nil {
		return nil, fsm.KeyVersion{}, err
	}
	if k.KeyUsage != signVerify {
		return nil, fsm.KeyVersion{}, errKeyUsage(k, action[len("kms:"):])
	}
	if !slices.Contains(keySpecInfos[k.KeySpec].signing, r.algName) {
		return nil, fsm.KeyVersion{}, newError(wire.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", r.algName, k.KeySpec)
	}
	v, ok := k.Current()
	if !ok || len(v.PublicKey) == 0 {
		return nil, fsm.KeyVersion{}, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	return k, v, nil
}

// signInput returns what the HSM signs and Verify checks for r: the
// digest of a RAW message (the message itself for ED25519_SHA_512 and
// ML_DSA_SHAKE_256), or a DIGEST message whose length is checked.
func signInput(r *signRequest) ([]byte, error) {
	switch {
	case r.alg == hsm.MlDsaShake256 || r.alg == hsm.MlDsaExternalMu:
		return mlDSAInput(r)
	case r.messageType == "EXTERNAL_MU":
		return nil, newError(wire.InvalidKeyUsage, "MessageType EXTERNAL_MU is valid only with ML-DSA keys, not with %s.", r.algName)
	case r.alg == hsm.Ed25519SHA512 && r.messageType != "RAW":
		return nil, validation("The signing algorithm ED25519_SHA_512 requires MessageType RAW.")
	case r.alg == hsm.Ed25519phSHA512 && r.messageType != "DIGEST":
		return nil, validation("The signing algorithm ED25519_PH_SHA_512 requires MessageType DIGEST.")
	case r.alg == hsm.Ed25519SHA512:
		return r.msg, nil
	case r.messageType == "DIGEST":
		if len(r.msg) != r.alg.Hash().Size() {
			return nil, validation("Digest is invalid length for algorithm %s: it must be %d bytes.", r.algName, r.alg.Hash().Size())
		}
		return r.msg, nil
	}
	h := r.alg.Hash().New()
	h.Write(r.msg)
	return h.Sum(nil), nil
}

// mlDSAInput is signInput for ML_DSA_SHAKE_256: a RAW message is signed
// as it is (pure ML-DSA, empty context); an EXTERNAL_MU message is the
// 64-byte μ the caller computed from the public key and the message, and
// is signed and verified as μ (hsm.MlDsaExternalMu). DIGEST is AWS's
// ValidationException.
func mlDSAInput(r *signRequest) ([]byte, error) {
	switch r.messageType {
	case "DIGEST":
		return nil, validation("The signing algorithm ML_DSA_SHAKE_256 requires MessageType RAW or EXTERNAL_MU.")
	case "EXTERNAL_MU":
		if len(r.msg) != 64 {
			return nil, validation("Digest is invalid length for algorithm ML_DSA_SHAKE_256 with MessageType EXTERNAL_MU: it must be 64 bytes.")
		}
	}
	return r.msg, nil
}

// signCall is a validated, authorized Sign or Verify: the key, its
// version, the request and what to sign or check.
type signCall struct {
	key     *fsm.Key
	version fsm.KeyVersion
	req     *signRequest
	input   []byte
}

// prepareSign validates, authorizes and checks a Sign or Verify (action);
// signature is Verify's member, nil for Sign. A dry run stops here.
func (s *Service) prepareSign(ctx context.Context, action, keyID string, msg []byte, alg, messageType string,
	signature []byte, tokens []string, dry bool) (*signCall, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := parseSignRequest(msg, alg, messageType)
	if err != nil {
		return nil, err
	}
	if action == "kms:Verify" {
		if err := checkBlob("signature", signature); err != nil {
			return nil, err
		}
	}
	if err := s.useGrantTokens(ctx, tokens); err != nil {
		return nil, err
	}
	k, v, err := s.signingKey(ctx, p, keyID, action, r)
	if err != nil {
		return nil, err
	}
	input, err := signInput(r)
	if err != nil {
		return nil, err
	}
	if dry {
		return nil, dryRun()
	}
	return &signCall{key: k, version: v, req: r, input: input}, nil
}

// Sign signs a message or digest with an asymmetric SIGN_VERIFY key; the
// private key is used only inside the HSM.
func (s *Service) Sign(ctx context.Context, req *kmsv1.SignRequest) (*kmsv1.SignResponse, error) {
	c, err := s.prepareSign(ctx, "kms:Sign", req.GetKeyId(), req.GetMessage(), req.GetSigningAlgorithm(), req.GetMessageType(),
		nil, req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	signer, ok := s.hsm.(hsm.Signer)
	if !ok {
		return nil, newError(wire.UnsupportedOperation, "This node's HSM backend cannot sign.")
	}
	ref, err := s.keyRef(ctx, "Sign", c.key, c.version)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(ctx, ref, c.req.alg, c.input)
	if err != nil {
		return nil, s.internal(ctx, "Sign", err)
	}
	return &kmsv1.SignResponse{KeyId: c.key.ARN, Signature: sig, SigningAlgorithm: c.req.algName}, nil
}

// Verify checks a signature with the public key in the replicated state,
// without the HSM: every node gives the same answer. A signature that
// does not verify is KMSInvalidSignatureException.
func (s *Service) Verify(ctx context.Context, req *kmsv1.VerifyRequest) (*kmsv1.VerifyResponse, error) {
	c, err := s.prepareSign(ctx, "kms:Verify", req.GetKeyId(), req.GetMessage(), req.GetSigningAlgorithm(), req.GetMessageType(),
		req.GetSignature(), req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicKey(c.version.PublicKey)
	if err != nil {
		return nil, s.internal(ctx, "Verify", err)
	}
	if !verifySignature(pub, c.req.alg, c.input, req.GetSignature()) {
		return nil, newError(wire.KMSInvalidSignature, "The signature is not valid for this message, key and signing algorithm.")
	}
	return &kmsv1.VerifyResponse{KeyId: c.key.ARN, SignatureValid: true, SigningAlgorithm: c.req.algName}, nil
}

// parsePublicKey parses a DER SubjectPublicKeyInfo of a key type Trent
// signs with.
func parsePublicKey(der []byte) (crypto.PublicKey, error) {
	pub, err := keys.ParsePublicKey(der)
	if err != nil {
		return nil, err
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey, *secp256k1.PublicKey, *keys.MLDSAPublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("public key of type %T", pub)
}

// verifySignature checks sig over input (as signInput gives it) under alg.
func verifySignature(pub crypto.PublicKey, alg hsm.SigningAlgorithm, input, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return alg.ECDSA() && ecdsa.VerifyASN1(k, input, sig)
	case *rsa.PublicKey:
		switch {
		case alg.RSAPSS():
			return rsa.VerifyPSS(k, alg.Hash(), input, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		case alg.RSAPKCS1():
			return rsa.VerifyPKCS1v15(k, alg.Hash(), input, sig) == nil
		}
	case *secp256k1.PublicKey:
		return alg == hsm.EcdsaSHA256 && keys.VerifySecp256k1(k, input, sig)
	case *keys.MLDSAPublicKey:
		switch alg {
		case hsm.MlDsaShake256:
			return keys.VerifyMLDSA(k, input, sig)
		case hsm.MlDsaExternalMu:
			return keys.VerifyMLDSAMu(k, input, sig)
		}
	case ed25519.PublicKey:
		switch alg {
		case hsm.Ed25519SHA512:
			return ed25519.VerifyWithOptions(k, input, sig, &ed25519.Options{}) == nil
		case hsm.Ed25519phSHA512:
			return ed25519.VerifyWithOptions(k, input, sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
		}
	}
	return false
}

// GetPublicKey returns the public key of an asymmetric key as a DER
// SubjectPublicKeyInfo, from the replicated state.
func (s *Service) GetPublicKey(ctx context.Context, req *kmsv1.GetPublicKeyRequest) (*kmsv1.GetPublicKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.authorizedKey(ctx, req.GetKeyId(), &AuthzRequest{Principal: p, Action: "kms:GetPublicKey"})
	if err != nil {
		return nil, err
	}
	v, ok := k.Current()
	if !ok || len(v.PublicKey) == 0 {
		return nil, newError(wire.UnsupportedOperation, "%s is a %s key, which has no public key.", k.ARN, keyKindOf(k))
	}
	resp := &kmsv1.GetPublicKeyResponse{KeyId: k.ARN, PublicKey: v.PublicKey, CustomerMasterKeySpec: k.KeySpec,
		KeySpec: k.KeySpec, KeyUsage: k.KeyUsage}
	switch k.KeyUsage {
	case signVerify:
		resp.SigningAlgorithms = slices.Clone(keySpecInfos[k.KeySpec].signing)
	case encryptDecrypt:
		resp.EncryptionAlgorithms = slices.Clone(keySpecInfos[k.KeySpec].encryption)
	case keyAgreement:
		resp.KeyAgreementAlgorithms = []string{"ECDH"}
	}
	return resp, nil
}

// keyKindOf names a key's kind in messages.
func keyKindOf(k *fsm.Key) string {
	switch {
	case k.KeySpec == symmetricDefault:
		return "symmetric encryption"
	case k.KeyUsage == generateVerifyMac:
		return "HMAC"
	}
	return "asymmetric"
}

// macKey resolves, authorizes and checks the key of GenerateMac and
// VerifyMac: a GENERATE_VERIFY_MAC key whose spec has the algorithm.
func (s *Service) macKey(ctx context.Context, p identity.Principal, keyID, action, alg string) (*fsm.Key, hsm.KeyRef, error) {
	k, err := s.authorizedKey(ctx, keyID, &AuthzRequest{Principal: p, Action: action, MacAlgorithm: alg})
	if err != nil {
		return nil, hsm.KeyRef{}, err
	}
	if k.KeyUsage != generateVerifyMac {
		return nil, hsm.KeyRef{}, errKeyUsage(k, action[len("kms:"):])
	}
	if keySpecInfos[k.KeySpec].mac != alg {
		return nil, hsm.KeyRef{}, newError(wire.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.KeySpec)
	}
	v, ok := k.Current()
	if !ok {
		return nil, hsm.KeyRef{}, newError(wire.KMSInvalidState, "%s is pending import.", k.ARN)
	}
	ref, err := s.keyRef(ctx, action, k, v)
	return k, ref, err
}

// macCall validates, authorizes and checks a GenerateMac or VerifyMac
// (action) and computes the message's HMAC in the HSM; tag is VerifyMac's
// Mac member, nil for GenerateMac. A dry run stops before the HSM.
func (s *Service) macCall(ctx context.Context, action, keyID string, msg []byte, alg string, tag []byte, tokens []string, dry bool) (*fsm.Key, []byte, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := checkMessage(msg); err != nil {
		return nil, nil, err
	}
	switch {
	case alg == "":
		return nil, nil, validation("Value null at 'macAlgorithm' failed to satisfy constraint: Member must not be null")
	case !enumContains(macAlgorithms, alg):
		return nil, nil, validation("Value '%s' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: %s", alg, macAlgorithms)
	}
	if action == "kms:VerifyMac" {
		if err := checkBlob("mac", tag); err != nil {
			return nil, nil, err
		}
	}
	if err := s.useGrantTokens(ctx, tokens); err != nil {
		return nil, nil, err
	}
	k, ref, err := s.macKey(ctx, p, keyID, action, alg)
	if err != nil {
		return nil, nil, err
	}
	if dry {
		return nil, nil, dryRun()
	}
	m, ok := s.hsm.(hsm.KeyMACer)
	if !ok {
		return nil, nil, newError(wire.UnsupportedOperation, "This node's HSM backend has no HMAC keys.")
	}
	sum, err := m.MACKey(ctx, ref, msg)
	if err != nil {
		return nil, nil, s.internal(ctx, action[len("kms:"):], err)
	}
	return k, sum, nil
}

// GenerateMac computes an HMAC of a message with an HMAC key, inside the HSM.
func (s *Service) GenerateMac(ctx context.Context, req *kmsv1.GenerateMacRequest) (*kmsv1.GenerateMacResponse, error) {
	k, sum, err := s.macCall(ctx, "kms:GenerateMac", req.GetKeyId(), req.GetMessage(), req.GetMacAlgorithm(), nil,
		req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateMacResponse{Mac: sum, MacAlgorithm: req.GetMacAlgorithm(), KeyId: k.ARN}, nil
}

// VerifyMac recomputes the HMAC in the HSM and compares it in constant
// time; a mismatch is KMSInvalidMacException.
func (s *Service) VerifyMac(ctx context.Context, req *kmsv1.VerifyMacRequest) (*kmsv1.VerifyMacResponse, error) {
	k, sum, err := s.macCall(ctx, "kms:VerifyMac", req.GetKeyId(), req.GetMessage(), req.GetMacAlgorithm(), req.GetMac(),
		req.GetGrantTokens(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(sum, req.GetMac()) {
		return nil, newError(wire.KMSInvalidMac, "The MAC is not valid for this message, key and MAC algorithm.")
	}
	return &kmsv1.VerifyMacResponse{KeyId: k.ARN, MacValid: true, MacAlgorithm: req.GetMacAlgorithm()}, nil
}
