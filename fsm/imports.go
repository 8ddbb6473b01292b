package fsm

import (
	"bytes"
	"errors"
	"time"

	"github.com/trentkms/trent/wire"
)

// Imported key material (AWS Origin EXTERNAL). A key of origin EXTERNAL
// starts PendingImport with no versions. ImportKeyMaterial gives it one
// version, whose EKT an HSM made from material the client wrapped;
// DeleteImportedKeyMaterial, or the leader when the material expires
// (DeleteExpiredKeyMaterial), takes the version away again and the key
// returns to PendingImport. Only the same material may come back: the
// key keeps its material's fingerprint (a MAC the HSM computed under a
// key derived from the domain key, so it reveals nothing of the material)
// and the version id the first import chose, so ciphertexts made before
// a deletion decrypt after the material is imported again.

// Expiration models of imported material (AWS ExpirationModelType).
const (
	KeyMaterialExpires       = "KEY_MATERIAL_EXPIRES"
	KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
)

// OriginExternal is the origin of keys whose material is imported.
const OriginExternal = "EXTERNAL"

// ImportedMaterial is what a key of origin EXTERNAL keeps of its imported
// material once it has had some.
type ImportedMaterial struct {
	// VersionID is the id of the material's version: the first import
	// chose it, and every import of the same material keeps it.
	VersionID string `json:"version_id"`
	// Fingerprint is the HSM's keyed fingerprint of the material
	// (hsm.Imported.Fingerprint); it is not the material.
	Fingerprint []byte `json:"fingerprint"`
	// ExpirationModel is that of the material imported now; "" while the
	// key has none (deleted or expired).
	ExpirationModel string `json:"expiration_model,omitempty"`
	// ValidTo is when material that expires does (Unix ms), else 0.
	ValidTo int64 `json:"valid_to,omitempty"`
}

// HasImportedMaterial reports whether k is a key of origin EXTERNAL with
// material now.
func (k *Key) HasImportedMaterial() bool {
	return k.Origin == OriginExternal && k.Import != nil && k.Import.ExpirationModel != ""
}

// notExternal refuses an import operation on a key whose material is not
// imported (the key-state table's note [9]).
func notExternal(k *Key) *Rejection {
	if k.Origin != OriginExternal {
		return reject(wire.UnsupportedOperation, k.ARN+" origin is "+k.Origin+" which is not valid for this operation.")
	}
	return nil
}

// ImportKeyMaterial gives a key of origin EXTERNAL its material: Version
// (one EKT, and for a key pair its public key) with Fingerprint. A key
// pending import becomes Enabled; a key that has material keeps its state
// and gets the new expiration. Material whose fingerprint is not the
// key's earlier material's is refused with IncorrectKeyMaterialException.
type ImportKeyMaterial struct {
	KeyID           string     `json:"key_id"`
	Version         KeyVersion `json:"version"`
	Fingerprint     []byte     `json:"fingerprint"`
	ExpirationModel string     `json:"expiration_model"`
	// ValidTo is when the material expires (Unix ms), for
	// KEY_MATERIAL_EXPIRES; 0 otherwise.
	ValidTo int64 `json:"valid_to,omitempty"`
}

func (*ImportKeyMaterial) Op() Op { return OpImportKeyMaterial }

func (c *ImportKeyMaterial) validate() error {
	switch {
	case c.KeyID == "" || c.Version.ID == "" || len(c.Version.EKT) == 0:
		return errors.New("no key id, version id or EKT")
	case len(c.Fingerprint) == 0:
		return errors.New("no fingerprint")
	}
	return nil
}

func (c *ImportKeyMaterial) apply(f *FSM, _ uint64) *Result {
	if rej := f.retiredEKT(c.Version.EKT); rej != nil {
		return &Result{Err: rej}
	}
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notExternal(k); r != nil {
			return r
		}
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		if expires := c.ExpirationModel == KeyMaterialExpires; !expires && c.ExpirationModel != KeyMaterialDoesNotExpire ||
			expires != (c.ValidTo != 0) {
			// The service checks these; a command that slipped through changes nothing.
			return reject(wire.Validation, "ExpirationModel "+c.ExpirationModel+" does not go with this ValidTo.")
		}
		if k.Import != nil {
			if !bytes.Equal(k.Import.Fingerprint, c.Fingerprint) {
				return reject(wire.IncorrectKeyMaterial, "The key material is not the key material previously imported into "+k.ARN+".")
			}
			if k.Import.VersionID != c.Version.ID {
				// The same material imported twice at once, each with a
				// fresh version id: the first won.
				return reject(wire.Conflict, "Key material was imported into "+k.ARN+" concurrently; retry the request.")
			}
		}
		k.Versions = []KeyVersion{c.Version}
		k.Import = &ImportedMaterial{VersionID: c.Version.ID, Fingerprint: bytes.Clone(c.Fingerprint),
			ExpirationModel: c.ExpirationModel, ValidTo: c.ValidTo}
		if k.State == PendingImport {
			k.State = Enabled
		}
		return nil
	})
}

// DeleteImportedKeyMaterial deletes a key's imported material (its EKT):
// the key becomes PendingImport, or stays PendingDeletion. A key with no
// material is left as it is.
type DeleteImportedKeyMaterial struct {
	KeyID string `json:"key_id"`
}

func (*DeleteImportedKeyMaterial) Op() Op { return OpDeleteImportedKeyMaterial }

func (c *DeleteImportedKeyMaterial) validate() error {
	if c.KeyID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *DeleteImportedKeyMaterial) apply(f *FSM, _ uint64) *Result {
	return f.forgetMaterial(f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notExternal(k); r != nil {
			return r
		}
		deleteMaterial(k)
		return nil
	}))
}

// DeleteExpiredKeyMaterial is DeleteImportedKeyMaterial for material that
// expired, proposed by the leader (kms.Service.DueImportExpiry) with its
// own time Now (Unix ms). Apply decides again whether the material has
// expired, so a stale proposal (material imported again since, with a
// later ValidTo) deletes nothing.
type DeleteExpiredKeyMaterial struct {
	KeyID string `json:"key_id"`
	Now   int64  `json:"now"`
}

func (*DeleteExpiredKeyMaterial) Op() Op { return OpDeleteExpiredKeyMaterial }

func (c *DeleteExpiredKeyMaterial) validate() error {
	if c.KeyID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *DeleteExpiredKeyMaterial) apply(f *FSM, _ uint64) *Result {
	return f.forgetMaterial(f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if !k.HasImportedMaterial() || k.Import.ExpirationModel != KeyMaterialExpires {
			return reject(wire.KMSInvalidState, k.ARN+" has no key material that expires.")
		}
		if c.Now < k.Import.ValidTo {
			return reject(wire.KMSInvalidState, k.ARN+"'s key material is valid until "+
				time.UnixMilli(k.Import.ValidTo).UTC().Format(time.RFC3339)+".")
		}
		deleteMaterial(k)
		return nil
	}))
}

// forgetMaterial has every node's HSM drop what it cached of a key whose
// imported material r deleted (the OnKeysDeleted observer, which
// forgets the key's cached material; its EKTs, the only way to that
// material, are gone from the state already).
func (f *FSM) forgetMaterial(r *Result) *Result {
	if r.Err == nil {
		f.deleted = append(f.deleted, r.Key.ID)
	}
	return r
}

// deleteMaterial takes k's imported material away; k is a copy.
func deleteMaterial(k *Key) {
	k.Versions = nil
	if k.Import != nil {
		im := *k.Import
		im.ExpirationModel, im.ValidTo = "", 0
		k.Import = &im
	}
	if k.State != PendingDeletion {
		k.State = PendingImport
	}
}
