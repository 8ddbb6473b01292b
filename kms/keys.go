package kms

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

var keySpecs = "[RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519]"

const keyUsages = "[SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]"

func enumContains(set, v string) bool {
	return strings.Contains(set, "["+v+",") || strings.Contains(set, " "+v+",") || strings.Contains(set, " "+v+"]")
}

// CreateKey creates a symmetric encryption, asymmetric or HMAC key. Its
// material is generated inside the HSM; only the exported key token (and
// a key pair's public key) is replicated. A key of Origin EXTERNAL starts
// PendingImport, without material (imports.go).
func (s *Service) CreateKey(ctx context.Context, req *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	spec := req.GetKeySpec()
	if spec == "" {
		spec = req.GetCustomerMasterKeySpec()
	} else if cmk := req.GetCustomerMasterKeySpec(); cmk != "" && cmk != spec {
		return nil, validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	if spec == "" {
		spec = "SYMMETRIC_DEFAULT"
	}
	usage := req.GetKeyUsage()
	origin := req.GetOrigin()
	switch {
	case len(req.GetDescription()) > 8192:
		return nil, validation("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	case !enumContains(keySpecs, spec):
		return nil, validation("Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: %s", spec, keySpecs)
	case usage != "" && !enumContains(keyUsages, usage):
		return nil, validation("Value '%s' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: %s", usage, keyUsages)
	case origin != "" && !enumContains("[AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]", origin):
		return nil, validation("Value '%s' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]", origin)
	case origin != "" && origin != originAWSKMS && origin != fsm.OriginExternal:
		return nil, newError(wire.UnsupportedOperation, "Origin %s is not supported by Trent; only AWS_KMS and EXTERNAL are.", origin)
	case req.GetMultiRegion():
		return nil, newError(wire.UnsupportedOperation, "Multi-Region keys are not supported by Trent.")
	}
	usage, err = keyUsageFor(spec, usage)
	if err != nil {
		return nil, err
	}
	hspec, err := s.backendSpec(spec)
	if err != nil {
		return nil, err
	}
	if origin == "" {
		origin = originAWSKMS
	}
	if _, imports := s.hsm.(hsm.Importer); origin == fsm.OriginExternal && !imports {
		return nil, newError(wire.UnsupportedOperation, "Origin EXTERNAL is not supported by this cluster's HSM backend.")
	}
	_, decrypts := s.hsm.(hsm.Decrypter)
	_, agrees := s.hsm.(hsm.KeyAgreer)
	if usage == encryptDecrypt && hspec.Asymmetric() && !decrypts || usage == keyAgreement && !agrees {
		return nil, newError(wire.UnsupportedOperation, "KeySpec %s with KeyUsage %s is not supported by this cluster's HSM backend.", spec, usage)
	}
	tags, err := validateTags(req.GetTags())
	if err != nil {
		return nil, err
	}
	bypass := req.GetBypassPolicyLockoutSafetyCheck()
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:CreateKey", BypassLockoutCheck: &bypass,
		NewKey: &policy.KeyAttributes{KeySpec: spec, KeyUsage: usage, Origin: origin}, RequestTags: tags}); err != nil {
		return nil, err
	}
	if req.GetPolicy() != "" {
		if err := s.checkKeyPolicy(p, req.GetPolicy(), bypass); err != nil {
			return nil, err
		}
	}
	if len(tags) > 0 {
		if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:TagResource", RequestTags: tags}); err != nil {
			return nil, err
		}
	}

	id, idBytes, err := newUUID(s.rand)
	if err != nil {
		return nil, s.internal(ctx, "CreateKey", err)
	}
	now := millis(s.now())
	k := fsm.Key{
		ID: id, ARN: s.keyARN(p.Account, id), Account: p.Account, CreationDate: now,
		Description: req.GetDescription(), KeySpec: spec, KeyUsage: usage, Origin: origin,
		State: fsm.PendingImport, Tags: tags, Policy: req.GetPolicy(), // "" gets the default policy
	}
	if origin == originAWSKMS {
		v, err := s.generateVersion(ctx, "CreateKey", hspec, idBytes, now)
		if err != nil {
			return nil, err
		}
		k.State, k.Versions = fsm.Enabled, []fsm.KeyVersion{v}
	}
	r, err := s.propose(ctx, &fsm.CreateKey{Key: k})
	if err != nil {
		return nil, err
	}
	return &kmsv1.CreateKeyResponse{KeyMetadata: s.metadata(r.Key)}, nil
}

func validateTags(in []*kmsv1.Tag) ([]fsm.Tag, error) {
	if len(in) > 50 {
		return nil, newError(wire.Tag, "Too many tags: a key can have at most 50 tags.")
	}
	seen := make(map[string]bool, len(in))
	out := make([]fsm.Tag, 0, len(in))
	for i, t := range in {
		k, v := t.GetTagKey(), t.GetTagValue()
		switch {
		case len(k) < 1 || len(k) > 128:
			// AWS refuses these in request validation, not with TagException.
			return nil, validation("Value '%s' at 'tags.%d.member.tagKey' failed to satisfy constraint: Member must have length between 1 and 128", k, i+1)
		case len(v) > 256:
			return nil, validation("Value '%s' at 'tags.%d.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256", v, i+1)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return nil, newError(wire.Tag, "Tag keys beginning with aws: are reserved.")
		case seen[k]:
			return nil, newError(wire.Tag, "Duplicate tag key %s.", k)
		}
		seen[k] = true
		out = append(out, fsm.Tag{Key: k, Value: v})
	}
	return out, nil
}

// generateVersion generates a version of a key's material of spec in the
// HSM: a random version id, the exported key token and, for a key pair,
// the public key.
func (s *Service) generateVersion(ctx context.Context, op string, spec hsm.KeySpec, keyID [16]byte, created int64) (fsm.KeyVersion, error) {
	var version [16]byte
	if _, err := s.rand.Read(version[:]); err != nil {
		return fsm.KeyVersion{}, s.internal(ctx, op, err)
	}
	ekt, err := s.hsm.GenerateKey(ctx, spec, keyID, version)
	if err != nil {
		return fsm.KeyVersion{}, s.internal(ctx, op, err)
	}
	v := fsm.KeyVersion{ID: versionHex(version), EKT: ekt, Created: created}
	if spec.Asymmetric() {
		signer, ok := s.hsm.(hsm.Signer)
		if !ok {
			return fsm.KeyVersion{}, s.internal(ctx, op, errors.New("the HSM generated a key pair but is not an hsm.Signer"))
		}
		ref := hsm.KeyRef{KeyID: keyID, VersionID: version, Spec: spec, EKT: ekt}
		if v.PublicKey, err = signer.PublicKey(ctx, ref); err != nil {
			return fsm.KeyVersion{}, s.internal(ctx, op, err)
		}
	}
	return v, nil
}

// metadata renders a key as AWS's KeyMetadata.
func (s *Service) metadata(k *fsm.Key) *kmsv1.KeyMetadata {
	m := &kmsv1.KeyMetadata{
		AwsAccountId:          k.Account,
		KeyId:                 k.ID,
		Arn:                   k.ARN,
		CreationDate:          seconds(k.CreationDate),
		Enabled:               k.State == fsm.Enabled,
		Description:           k.Description,
		KeyUsage:              k.KeyUsage,
		KeyState:              string(k.State),
		Origin:                k.Origin,
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: k.KeySpec,
		KeySpec:               k.KeySpec,
		CurrentKeyMaterialId:  currentKeyMaterialID(k),
	}
	setAlgorithms(m, k)
	setImportedMaterial(m, k)
	if k.State == fsm.PendingDeletion {
		d, w := seconds(k.DeletionDate), k.PendingWindowInDays
		m.DeletionDate, m.PendingDeletionWindowInDays = &d, &w
	}
	return m
}

// DescribeKey returns a key's metadata. It works in every key state.
func (s *Service) DescribeKey(ctx context.Context, req *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(p, req.GetKeyId(), true)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:DescribeKey", Key: k,
		RequestAlias: requestAlias(req.GetKeyId())}); err != nil {
		return nil, err
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: s.metadata(k)}, nil
}

// ListKeys lists the caller's account's keys, Limit (1-1000, default 100)
// at a time; NextMarker continues the listing.
func (s *Service) ListKeys(ctx context.Context, req *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(req.Limit, 1000, 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeMarker(req.GetMarker())
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:ListKeys", nil, nil); err != nil {
		return nil, err
	}
	keys, more := s.store.ListKeys(p.Account, after, limit)
	resp := &kmsv1.ListKeysResponse{Keys: make([]*kmsv1.KeyListEntry, len(keys)), Truncated: more}
	for i, k := range keys {
		resp.Keys[i] = &kmsv1.KeyListEntry{KeyId: k.ID, KeyArn: k.ARN}
	}
	if more {
		resp.NextMarker = encodeMarker(keys[len(keys)-1].ID)
	}
	return resp, nil
}

func pageLimit(limit *int32, max, def int32) (int, error) {
	if limit == nil {
		return int(def), nil
	}
	switch v := *limit; {
	case v < 1:
		return 0, validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", v)
	case v > max:
		return 0, validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", v, max)
	default:
		return int(v), nil
	}
}

// Markers are opaque to callers: "trent1:" and the last id, base64url.
func encodeMarker(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("trent1:" + last))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !strings.HasPrefix(string(b), "trent1:") || len(m) > 1024 {
		return "", newError(wire.InvalidMarker, "The marker is not valid.")
	}
	return strings.TrimPrefix(string(b), "trent1:"), nil
}

// EnableKey sets a key's state to Enabled.
func (s *Service) EnableKey(ctx context.Context, req *kmsv1.EnableKeyRequest) (*kmsv1.EnableKeyResponse, error) {
	if err := s.setEnabled(ctx, req.GetKeyId(), true); err != nil {
		return nil, err
	}
	return &kmsv1.EnableKeyResponse{}, nil
}

// DisableKey sets a key's state to Disabled; it then refuses cryptography.
func (s *Service) DisableKey(ctx context.Context, req *kmsv1.DisableKeyRequest) (*kmsv1.DisableKeyResponse, error) {
	if err := s.setEnabled(ctx, req.GetKeyId(), false); err != nil {
		return nil, err
	}
	return &kmsv1.DisableKeyResponse{}, nil
}

func (s *Service) setEnabled(ctx context.Context, keyID string, on bool) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	k, err := s.resolveKeyForWrite(ctx, p, keyID, false)
	if err != nil {
		return err
	}
	action := "kms:DisableKey"
	if on {
		action = "kms:EnableKey"
	}
	if err := s.authorize(ctx, p, action, k, nil); err != nil {
		return err
	}
	_, err = s.propose(ctx, &fsm.SetKeyEnabled{KeyID: k.ID, Enabled: on})
	return err
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, req *kmsv1.UpdateKeyDescriptionRequest) (*kmsv1.UpdateKeyDescriptionResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.GetDescription()) > 8192 {
		return nil, validation("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:UpdateKeyDescription", k, nil); err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, &fsm.UpdateKeyDescription{KeyID: k.ID, Description: req.GetDescription()})
	if err != nil {
		return nil, err
	}
	return &kmsv1.UpdateKeyDescriptionResponse{}, nil
}
