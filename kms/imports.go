package kms

import (
	"context"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/wire"
)

// Imported key material (AWS "bring your own key"). A key created with
// Origin EXTERNAL has no material until ImportKeyMaterial gives it some:
//
//   - GetParametersForImport has the HSM generate an RSA wrapping key
//     pair and answers its public key and an import token. The token
//     carries the wrapping private key as an EKT (under a key of its own,
//     see hsm.Importer) and is authenticated by the HSM's MAC over the
//     key id, the wrapping key id, algorithm and spec, its expiry and the
//     EKT. Nothing is replicated: every node holds the domain key, so any
//     node imports with a token any node made, and an unused wrapping key
//     leaves nothing behind.
//   - ImportKeyMaterial checks the token, and the HSM decrypts the
//     material inside and returns its EKT and a keyed fingerprint; the
//     state machine accepts only the fingerprint of the key's earlier
//     material (IncorrectKeyMaterialException otherwise).
//   - DeleteImportedKeyMaterial, and the leader when material with a
//     ValidTo expires (DueImportExpiry), take the EKT away: the key is
//     PendingImport again until the same material is imported.

const originAWSKMS = "AWS_KMS"

const (
	wrappingAlgorithms = "[RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, SM2PKE]"
	wrappingKeySpecs   = "[RSA_2048, RSA_3072, RSA_4096, SM2]"
	expirationModels   = "[KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]"
	importTypes        = "[NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]"
)

// importLabel is the HSM MAC label of import tokens.
const importLabel = "trent/import-token/v1"

// Import token format v1 (all of it public; the MAC makes it the HSM's):
//
//	off len field
//	0   1   version = 0x01
//	1   16  key id
//	17  16  wrapping key id
//	33  1   wrapping algorithm (hsm.WrappingAlgorithm)
//	34  1   wrapping key spec (hsm.KeySpec)
//	35  8   expiry, Unix ms, big-endian
//	43  2   n, big-endian
//	45  n   EKT of the wrapping private key
//	45+n 32 HSM MAC, label importLabel, of bytes [0, 45+n)
const (
	importTokenVersion = 0x01
	importTokenHeader  = 45
	importTokenMAC     = 32
	maxImportToken     = 6144
)

// importToken is a parsed import token.
type importToken struct {
	keyID, wrapID [16]byte
	alg           hsm.WrappingAlgorithm
	spec          hsm.KeySpec
	expires       int64 // Unix ms
	ekt           []byte
	body, mac     []byte // the MACed bytes and the MAC
}

func (t *importToken) encode() []byte {
	b := make([]byte, importTokenHeader, importTokenHeader+len(t.ekt)+importTokenMAC)
	b[0] = importTokenVersion
	copy(b[1:17], t.keyID[:])
	copy(b[17:33], t.wrapID[:])
	b[33], b[34] = byte(t.alg), byte(t.spec)
	binary.BigEndian.PutUint64(b[35:43], uint64(t.expires))
	binary.BigEndian.PutUint16(b[43:45], uint16(len(t.ekt)))
	return append(b, t.ekt...)
}

var errImportToken = errors.New("kms: malformed import token")

// parseImportToken parses a token's fields; whether the HSM made it is
// the MAC's to say.
func parseImportToken(b []byte) (*importToken, error) {
	if len(b) < importTokenHeader+importTokenMAC || len(b) > maxImportToken || b[0] != importTokenVersion {
		return nil, errImportToken
	}
	n := int(binary.BigEndian.Uint16(b[43:45]))
	if len(b) != importTokenHeader+n+importTokenMAC || n == 0 {
		return nil, errImportToken
	}
	t := &importToken{alg: hsm.WrappingAlgorithm(b[33]), spec: hsm.KeySpec(b[34]),
		expires: int64(binary.BigEndian.Uint64(b[35:43])), ekt: b[importTokenHeader : importTokenHeader+n],
		body: b[:importTokenHeader+n], mac: b[importTokenHeader+n:]}
	copy(t.keyID[:], b[1:17])
	copy(t.wrapID[:], b[17:33])
	if t.alg.Hash() == 0 || t.expires < 0 {
		return nil, errImportToken
	}
	return t, nil
}

// importKey resolves and authorizes the key of an import operation (a key
// id or key ARN) and checks that its material is imported: its origin is
// EXTERNAL (else UnsupportedOperationException) and, unless allowed, it
// is not pending deletion.
func (s *Service) importKey(ctx context.Context, r *AuthzRequest, keyID string, pendingDeletionOK bool) (*fsm.Key, error) {
	k, err := s.resolveKeyForWrite(ctx, r.Principal, keyID, false)
	if err != nil {
		return nil, err
	}
	r.Key = k
	if err := s.authorizeRequest(ctx, r); err != nil {
		return nil, err
	}
	switch {
	case k.Origin != fsm.OriginExternal:
		return nil, newError(wire.UnsupportedOperation, "%s origin is %s which is not valid for this operation.", k.ARN, k.Origin)
	case k.State == fsm.PendingDeletion && !pendingDeletionOK:
		return nil, newError(wire.KMSInvalidState, "%s is pending deletion.", k.ARN)
	}
	return k, nil
}

func (s *Service) importer(ctx context.Context, op string) (hsm.Importer, error) {
	imp, ok := s.hsm.(hsm.Importer)
	if !ok {
		// CreateKey refuses Origin EXTERNAL on such a backend: a node of
		// another kind joined a cluster that has imported keys.
		return nil, s.internal(ctx, op, errors.New("the HSM backend does not import key material"))
	}
	return imp, nil
}

// GetParametersForImport returns a public key to wrap key material with
// and the import token that goes with it, valid for a day.
func (s *Service) GetParametersForImport(ctx context.Context, req *kmsv1.GetParametersForImportRequest) (*kmsv1.GetParametersForImportResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	algName, specName := req.GetWrappingAlgorithm(), req.GetWrappingKeySpec()
	switch {
	case algName == "":
		return nil, validation("Value null at 'wrappingAlgorithm' failed to satisfy constraint: Member must not be null")
	case !enumContains(wrappingAlgorithms, algName):
		return nil, validation("Value '%s' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: %s", algName, wrappingAlgorithms)
	case specName == "":
		return nil, validation("Value null at 'wrappingKeySpec' failed to satisfy constraint: Member must not be null")
	case !enumContains(wrappingKeySpecs, specName):
		return nil, validation("Value '%s' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: %s", specName, wrappingKeySpecs)
	}
	k, err := s.importKey(ctx, &AuthzRequest{Principal: p, Action: "kms:GetParametersForImport",
		WrappingAlgorithm: algName, WrappingKeySpec: specName}, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	alg, ok := hsm.ParseWrappingAlgorithm(algName)
	if !ok {
		return nil, newError(wire.UnsupportedOperation, "WrappingAlgorithm %s is not supported by Trent; use RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.", algName)
	}
	spec, ok := hsm.ParseKeySpec(specName)
	if !ok { // SM2
		return nil, newError(wire.UnsupportedOperation, "WrappingKeySpec %s is not supported by Trent (AWS offers it only in China Regions).", specName)
	}
	imp, err := s.importer(ctx, "GetParametersForImport")
	if err != nil {
		return nil, err
	}
	t := &importToken{alg: alg, spec: spec, expires: millis(s.now().Add(s.day))}
	if t.keyID, err = parseUUID(k.ID); err != nil {
		return nil, s.internal(ctx, "GetParametersForImport", err)
	}
	if _, err := s.rand.Read(t.wrapID[:]); err != nil {
		return nil, s.internal(ctx, "GetParametersForImport", err)
	}
	ekt, pub, err := imp.GenerateWrappingKey(ctx, spec, t.keyID, t.wrapID)
	if err != nil {
		return nil, s.internal(ctx, "GetParametersForImport", err)
	}
	t.ekt = ekt
	body := t.encode()
	mac, err := s.hsm.MAC(ctx, importLabel, body)
	if err != nil {
		return nil, s.internal(ctx, "GetParametersForImport", err)
	}
	return &kmsv1.GetParametersForImportResponse{KeyId: k.ARN, ImportToken: append(body, mac...), PublicKey: pub,
		ParametersValidTo: seconds(t.expires)}, nil
}

// ImportKeyMaterial imports key material, wrapped with the public key of
// GetParametersForImport, into a key of origin EXTERNAL.
func (s *Service) ImportKeyMaterial(ctx context.Context, req *kmsv1.ImportKeyMaterialRequest) (*kmsv1.ImportKeyMaterialResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	model, validTo, err := s.importExpiration(req, now)
	if err != nil {
		return nil, err
	}
	if err := checkImportRequest(req); err != nil {
		return nil, err
	}
	k, err := s.importKey(ctx, &AuthzRequest{Principal: p, Action: "kms:ImportKeyMaterial",
		ExpirationModel: model, ValidTo: validTo}, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if req.GetImportType() == "NEW_KEY_MATERIAL" && k.Import != nil {
		return nil, newError(wire.UnsupportedOperation, "%s already has key material; importing new key material (rotating a key of origin EXTERNAL) is not supported by Trent.", k.ARN)
	}
	if id := req.GetKeyMaterialId(); id != "" && (k.Import == nil || id != importedMaterialID(k)) {
		return nil, newError(wire.NotFound, "Key material %s of %s does not exist.", id, k.ARN)
	}
	t, err := s.checkImportToken(ctx, k, req.GetImportToken(), now)
	if err != nil {
		return nil, err
	}
	spec, err := s.backendSpec(k.KeySpec)
	if err != nil {
		return nil, err
	}
	var version [16]byte
	if k.Import != nil {
		version, err = parseVersion(k.Import.VersionID)
	} else {
		_, err = s.rand.Read(version[:])
	}
	if err != nil {
		return nil, s.internal(ctx, "ImportKeyMaterial", err)
	}
	imp, err := s.importer(ctx, "ImportKeyMaterial")
	if err != nil {
		return nil, err
	}
	wrap := hsm.KeyRef{KeyID: t.keyID, VersionID: t.wrapID, Spec: t.spec, EKT: t.ekt}
	got, err := imp.ImportKey(ctx, wrap, t.alg, req.GetEncryptedKeyMaterial(), spec, version)
	switch {
	case errors.Is(err, hsm.ErrAuthentication):
		return nil, newError(wire.InvalidCiphertext, "The encrypted key material could not be decrypted with the wrapping key of the import token and %s.", t.alg)
	case errors.Is(err, hsm.ErrKeyMaterial):
		return nil, newError(wire.IncorrectKeyMaterial, "The key material is not a valid %s key.", k.KeySpec)
	case err != nil:
		return nil, s.internal(ctx, "ImportKeyMaterial", err)
	}
	if k.Import != nil && !hmac.Equal(k.Import.Fingerprint, got.Fingerprint) {
		return nil, newError(wire.IncorrectKeyMaterial, "The key material is not the key material previously imported into %s.", k.ARN)
	}
	v := fsm.KeyVersion{ID: versionHex(version), EKT: got.EKT, PublicKey: got.PublicKey, Created: millis(now)}
	r, err := s.propose(ctx, &fsm.ImportKeyMaterial{KeyID: k.ID, Version: v, Fingerprint: got.Fingerprint,
		ExpirationModel: model, ValidTo: validTo})
	if err != nil {
		return nil, err
	}
	return &kmsv1.ImportKeyMaterialResponse{KeyId: r.Key.ARN, KeyMaterialId: importedMaterialID(r.Key)}, nil
}

// importExpiration checks ImportKeyMaterial's ExpirationModel (default
// KEY_MATERIAL_EXPIRES) and ValidTo (required with it, at least 15
// minutes and at most 365 days ahead, and refused without it), and
// returns them, ValidTo in Unix ms (0 for material that does not expire).
func (s *Service) importExpiration(req *kmsv1.ImportKeyMaterialRequest, now time.Time) (string, int64, error) {
	model := req.GetExpirationModel()
	switch {
	case model == "":
		model = fsm.KeyMaterialExpires
	case !enumContains(expirationModels, model):
		return "", 0, validation("Value '%s' at 'expirationModel' failed to satisfy constraint: Member must satisfy enum value set: %s", model, expirationModels)
	}
	if model == fsm.KeyMaterialDoesNotExpire {
		if req.ValidTo != nil {
			return "", 0, newError(wire.Validation, "ValidTo must not be set when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
		}
		return model, 0, nil
	}
	if req.ValidTo == nil {
		return "", 0, newError(wire.Validation, "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
	}
	validTo := int64(req.GetValidTo() * 1000)
	// A day as the service counts it: 15 minutes is a 96th of it.
	if lo, hi := now.Add(s.day/96), now.Add(365*s.day); validTo < millis(lo) || validTo > millis(hi) {
		return "", 0, newError(wire.Validation, "ValidTo must be between 15 minutes and 365 days from now (%s to %s).",
			lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339))
	}
	return model, validTo, nil
}

// checkImportRequest checks ImportKeyMaterial's other members.
func checkImportRequest(req *kmsv1.ImportKeyMaterialRequest) error {
	switch tok, enc := len(req.GetImportToken()), len(req.GetEncryptedKeyMaterial()); {
	case tok == 0:
		return validation("Value null at 'importToken' failed to satisfy constraint: Member must not be null")
	case tok > maxImportToken:
		return validation("Value at 'importToken' failed to satisfy constraint: Member must have length less than or equal to 6144")
	case enc == 0:
		return validation("Value null at 'encryptedKeyMaterial' failed to satisfy constraint: Member must not be null")
	case enc > 6144:
		return validation("Value at 'encryptedKeyMaterial' failed to satisfy constraint: Member must have length less than or equal to 6144")
	case req.GetImportType() != "" && !enumContains(importTypes, req.GetImportType()):
		return validation("Value '%s' at 'importType' failed to satisfy constraint: Member must satisfy enum value set: %s", req.GetImportType(), importTypes)
	case len(req.GetKeyMaterialDescription()) > 256:
		return validation("Value at 'keyMaterialDescription' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	return checkKeyMaterialID(req.GetKeyMaterialId())
}

func checkKeyMaterialID(id string) error {
	if id != "" && len(id) != 64 {
		return validation("Value '%s' at 'keyMaterialId' failed to satisfy constraint: Member must have length equal to 64", id)
	}
	return nil
}

// checkImportToken parses an import token and checks that this cluster's
// HSM made it, for k, and that it has not expired.
func (s *Service) checkImportToken(ctx context.Context, k *fsm.Key, b []byte, now time.Time) (*importToken, error) {
	invalid := newError(wire.InvalidImportToken, "The import token is not valid for %s.", k.ARN)
	t, err := parseImportToken(b)
	if err != nil {
		return nil, invalid
	}
	mac, err := s.hsm.MAC(ctx, importLabel, t.body)
	if err != nil {
		return nil, s.internal(ctx, "ImportKeyMaterial", err)
	}
	keyID, err := parseUUID(k.ID)
	if err != nil || !hmac.Equal(mac, t.mac) || t.keyID != keyID {
		return nil, invalid
	}
	if millis(now) >= t.expires {
		return nil, newError(wire.ExpiredImportToken, "The import token expired at %s; get new parameters for import.",
			time.UnixMilli(t.expires).UTC().Format(time.RFC3339))
	}
	return t, nil
}

// importedMaterialID is the KeyMaterialId of a key's imported material
// (the id of its version, which every import of it keeps).
func importedMaterialID(k *fsm.Key) string {
	return keyMaterialID(k, fsm.KeyVersion{ID: k.Import.VersionID})
}

// DeleteImportedKeyMaterial deletes a key's imported material; the key
// becomes PendingImport (or stays PendingDeletion) until the same
// material is imported again.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, req *kmsv1.DeleteImportedKeyMaterialRequest) (*kmsv1.DeleteImportedKeyMaterialResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkKeyMaterialID(req.GetKeyMaterialId()); err != nil {
		return nil, err
	}
	k, err := s.importKey(ctx, &AuthzRequest{Principal: p, Action: "kms:DeleteImportedKeyMaterial"}, req.GetKeyId(), true)
	if err != nil {
		return nil, err
	}
	if id := req.GetKeyMaterialId(); id != "" && (k.Import == nil || id != importedMaterialID(k)) {
		return nil, newError(wire.NotFound, "Key material %s of %s does not exist.", id, k.ARN)
	}
	r, err := s.propose(ctx, &fsm.DeleteImportedKeyMaterial{KeyID: k.ID})
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.DeleteImportedKeyMaterialResponse{KeyId: r.Key.ARN}
	if r.Key.Import != nil {
		resp.KeyMaterialId = importedMaterialID(r.Key)
	}
	return resp, nil
}

// DueImportExpiry is the lifecycle task of imported material that
// expires: for a key whose material's ValidTo is at or before now (the
// leader's clock), the DeleteExpiredKeyMaterial that deletes it;
// otherwise nil. The state machine decides again when it applies.
func (s *Service) DueImportExpiry(_ context.Context, k *fsm.Key, now time.Time) (fsm.Command, error) {
	if !k.HasImportedMaterial() || k.Import.ExpirationModel != fsm.KeyMaterialExpires || millis(now) < k.Import.ValidTo {
		return nil, nil
	}
	return &fsm.DeleteExpiredKeyMaterial{KeyID: k.ID, Now: millis(now)}, nil
}

// setImportedMaterial fills in KeyMetadata's ExpirationModel and ValidTo
// for a key with imported material.
func setImportedMaterial(m *kmsv1.KeyMetadata, k *fsm.Key) {
	if !k.HasImportedMaterial() {
		return
	}
	m.ExpirationModel = k.Import.ExpirationModel
	if k.Import.ValidTo != 0 {
		v := seconds(k.Import.ValidTo)
		m.ValidTo = &v
	}
}
