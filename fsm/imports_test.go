package fsm

import (
	"testing"

	"github.com/trentkms/trent/wire"
)

func createExternal(id string) Command {
	k := testKey(id)
	k.Origin, k.State, k.Versions = OriginExternal, PendingImport, nil
	return &CreateKey{Key: k}
}

func importMaterial(id, version, fingerprint string, validTo int64) Command {
	model := KeyMaterialDoesNotExpire
	if validTo != 0 {
		model = KeyMaterialExpires
	}
	return &ImportKeyMaterial{KeyID: id, Version: KeyVersion{ID: version, EKT: []byte("ekt-" + version)},
		Fingerprint: []byte(fingerprint), ExpirationModel: model, ValidTo: validTo}
}

// Each import command in each state: the error, or the state after.
func TestImportedMaterialStates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     []Command
		cmd       Command
		wantErr   string
		wantState KeyState
		material  bool
	}{
		{"import into a key pending import", nil, importMaterial("x", "v1", "fp", 0), "", Enabled, true},
		{"import into an AWS_KMS key", []Command{create("k")}, importMaterial("k", "v1", "fp", 0), wire.UnsupportedOperation, "", false},
		{"import into a missing key", nil, importMaterial("nope", "v1", "fp", 0), wire.NotFound, "", false},
		{"re-import the same material", []Command{importMaterial("x", "v1", "fp", 0), &DeleteImportedKeyMaterial{KeyID: "x"}},
			importMaterial("x", "v1", "fp", 500), "", Enabled, true},
		{"re-import into a disabled key keeps it disabled", []Command{importMaterial("x", "v1", "fp", 0), setEnabled("x", false)},
			importMaterial("x", "v1", "fp", 0), "", Disabled, true},
		{"import other material", []Command{importMaterial("x", "v1", "fp", 0), &DeleteImportedKeyMaterial{KeyID: "x"}},
			importMaterial("x", "v1", "other", 0), wire.IncorrectKeyMaterial, "", false},
		{"concurrent first imports", []Command{importMaterial("x", "v1", "fp", 0)}, importMaterial("x", "v2", "fp", 0), wire.Conflict, "", false},
		{"import into a key pending deletion", []Command{scheduleDeletion("x", 10)}, importMaterial("x", "v1", "fp", 0), wire.KMSInvalidState, "", false},
		{"model without ValidTo", nil, &ImportKeyMaterial{KeyID: "x", Version: KeyVersion{ID: "v", EKT: []byte{1}}, Fingerprint: []byte{1},
			ExpirationModel: KeyMaterialExpires}, wire.Validation, "", false},
		{"delete", []Command{importMaterial("x", "v1", "fp", 0)}, &DeleteImportedKeyMaterial{KeyID: "x"}, "", PendingImport, false},
		{"delete without material", nil, &DeleteImportedKeyMaterial{KeyID: "x"}, "", PendingImport, false},
		{"delete from an AWS_KMS key", []Command{create("k")}, &DeleteImportedKeyMaterial{KeyID: "k"}, wire.UnsupportedOperation, "", false},
		{"delete while pending deletion", []Command{importMaterial("x", "v1", "fp", 0), scheduleDeletion("x", 10)},
			&DeleteImportedKeyMaterial{KeyID: "x"}, "", PendingDeletion, false},
		{"cancel deletion without material", []Command{importMaterial("x", "v1", "fp", 0), scheduleDeletion("x", 10),
			&DeleteImportedKeyMaterial{KeyID: "x"}}, &CancelKeyDeletion{KeyID: "x"}, "", PendingImport, false},
		{"cancel deletion with material", []Command{importMaterial("x", "v1", "fp", 0), scheduleDeletion("x", 10)},
			&CancelKeyDeletion{KeyID: "x"}, "", Disabled, true},
		{"expire when due", []Command{importMaterial("x", "v1", "fp", 500)}, &DeleteExpiredKeyMaterial{KeyID: "x", Now: 500}, "", PendingImport, false},
		{"expire too early", []Command{importMaterial("x", "v1", "fp", 500)}, &DeleteExpiredKeyMaterial{KeyID: "x", Now: 499}, wire.KMSInvalidState, "", false},
		{"expire material that does not expire", []Command{importMaterial("x", "v1", "fp", 0)}, &DeleteExpiredKeyMaterial{KeyID: "x", Now: 500}, wire.KMSInvalidState, "", false},
		{"expire after a re-import with a later ValidTo (stale)", []Command{importMaterial("x", "v1", "fp", 500), importMaterial("x", "v1", "fp", 900)},
			&DeleteExpiredKeyMaterial{KeyID: "x", Now: 600}, wire.KMSInvalidState, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			for i, r := range applyAll(t, f, append([]Command{createExternal("x")}, tc.setup...)...) {
				if r.Err != nil {
					t.Fatalf("setup %d: %v", i, r.Err)
				}
			}
			r := applyAll(t, f, tc.cmd)[0]
			if tc.wantErr != "" {
				if r.Err == nil || r.Err.Type != tc.wantErr {
					t.Fatalf("err = %v, want %s", r.Err, tc.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			k, _ := f.Key("x")
			if k.State != tc.wantState || k.HasImportedMaterial() != tc.material || (len(k.Versions) == 1) != tc.material {
				t.Fatalf("state %s, material %v (%d versions); want %s, %v", k.State, k.HasImportedMaterial(), len(k.Versions), tc.wantState, tc.material)
			}
		})
	}
}

// Deleting imported material, by the caller or by expiry, tells the
// OnKeysDeleted observer (the server makes its HSM forget the cached
// material); a refused deletion does not.
func TestDeletedMaterialIsForgotten(t *testing.T) {
	t.Parallel()
	var heard []string
	f := New()
	f.OnKeysDeleted(func(ids []string) { heard = append(heard, ids...) })
	applyAll(t, f, createExternal("x"), create("k"), importMaterial("x", "v1", "fp", 500),
		&DeleteExpiredKeyMaterial{KeyID: "x", Now: 499}, &DeleteImportedKeyMaterial{KeyID: "k"})
	if len(heard) != 0 {
		t.Fatalf("heard %v before any deletion", heard)
	}
	applyAll(t, f, &DeleteExpiredKeyMaterial{KeyID: "x", Now: 500}, importMaterial("x", "v1", "fp", 0), &DeleteImportedKeyMaterial{KeyID: "x"})
	if len(heard) != 2 || heard[0] != "x" || heard[1] != "x" {
		t.Fatalf("heard %v, want x twice", heard)
	}
}
