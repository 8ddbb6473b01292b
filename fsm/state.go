package fsm

import "github.com/trentkms/trent/wire"

// KeyState is the AWS key state of a KMS key.
type KeyState string

// Key states (AWS KeyState).
const (
	Enabled         KeyState = "Enabled"
	Disabled        KeyState = "Disabled"
	PendingDeletion KeyState = "PendingDeletion"
	PendingImport   KeyState = "PendingImport"
)

// Key is one KMS key as replicated. A *Key handed out by the FSM is
// immutable: never modify it; commands replace it with a new value.
type Key struct {
	ID           string   `json:"id"`
	ARN          string   `json:"arn"`
	Account      string   `json:"account"`
	CreationDate int64    `json:"creation_date"` // Unix milliseconds
	Description  string   `json:"description"`
	KeySpec      string   `json:"key_spec"`
	KeyUsage     string   `json:"key_usage"`
	Origin       string   `json:"origin"`
	State        KeyState `json:"state"`
	// DeletionDate is when a key pending deletion is deleted (Unix ms), else 0.
	DeletionDate int64 `json:"deletion_date,omitempty"`
	// PendingWindowInDays is the waiting period of a scheduled deletion.
	PendingWindowInDays int32  `json:"pending_window_in_days,omitempty"`
	Policy              string `json:"policy,omitempty"`
	Tags                []Tag  `json:"tags,omitempty"`
	// Versions holds every version of the key material, oldest first; the
	// last one encrypts. Old versions stay for decryption until deletion.
	// Every version after the first is a rotation (its RotationType).
	Versions []KeyVersion `json:"versions"`
	// Rotation holds the automatic rotation settings and the count of
	// on-demand rotations (rotation.go).
	Rotation Rotation `json:"rotation,omitzero"`
	// Import is what a key of origin EXTERNAL keeps of its imported
	// material (imports.go); nil before the first import.
	Import *ImportedMaterial `json:"import,omitempty"`
}

// Tag is a key tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// KeyVersion is one version of a key's material: its id and its exported
// key token (material wrapped under the cluster domain key by an HSM).
type KeyVersion struct {
	// ID is the 16-byte version id, as 32 lowercase hex characters.
	ID string `json:"id"`
	// EKT is the exported key token. It is not key material in plaintext.
	EKT []byte `json:"ekt"`
	// PublicKey is the DER SubjectPublicKeyInfo of an asymmetric key's
	// pair, taken from the HSM when the key is created, so that
	// GetPublicKey and Verify need no HSM and answer alike on every node;
	// nil for symmetric and HMAC keys.
	PublicKey []byte `json:"public_key,omitempty"`
	Created   int64  `json:"created"` // Unix milliseconds
	// RotationType is how the version came: "" for the key's first
	// material, RotationAutomatic or RotationOnDemand for a rotation
	// (whose RotationDate is Created).
	RotationType string `json:"rotation_type,omitempty"`
}

// Current returns the version that encrypts. ok is false if the key has no
// material (for example, pending import).
func (k *Key) Current() (v KeyVersion, ok bool) {
	if len(k.Versions) == 0 {
		return KeyVersion{}, false
	}
	return k.Versions[len(k.Versions)-1], true
}

// Version returns the version with the given id.
func (k *Key) Version(id string) (KeyVersion, bool) {
	for _, v := range k.Versions {
		if v.ID == id {
			return v, true
		}
	}
	return KeyVersion{}, false
}

// clone returns a copy of k that may be modified without touching k. Slices
// that commands replace wholesale (Tags, Versions) are copied too.
func (k *Key) clone() *Key {
	c := *k
	c.Tags = append([]Tag(nil), k.Tags...)
	c.Versions = append([]KeyVersion(nil), k.Versions...)
	return &c
}

// Rejection is a command refused at apply time. Type is the AWS error name
// (for example KMSInvalidStateException) and Message the AWS-style message.
// It is the services' error type, so a refusal reaches the caller as it is.
//
// Transition: Rejection is an alias of wire.Error while the write path is
// being unified; new code should name wire.Error.
type Rejection = wire.Error

func reject(typ, msg string) *Rejection { return &Rejection{Type: typ, Message: msg} }

// Unusable returns why k cannot do cryptography now, or nil if it can: a
// DisabledException or KMSInvalidStateException naming the key. The
// service (before proposing) and CreateGrant (at apply time) both refuse
// with it, so the two always agree.
func (k *Key) Unusable() *wire.Error {
	switch k.State {
	case Enabled:
		return nil
	case Disabled:
		return reject(wire.Disabled, k.ARN+" is disabled.")
	case PendingDeletion:
		return reject(wire.KMSInvalidState, k.ARN+" is pending deletion.")
	case PendingImport:
		return reject(wire.KMSInvalidState, k.ARN+" is pending import.")
	}
	return reject(wire.KMSInvalidState, k.ARN+" is unavailable.")
}
