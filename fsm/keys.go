package fsm

import (
	"errors"
	"time"

	"github.com/trentkms/trent/wire"
)

// Noop changes nothing. A new leader applies one to learn that its term's
// first entry reached the state machine (read barriers).
type Noop struct{}

func (*Noop) Op() Op                     { return OpNoop }
func (*Noop) validate() error            { return nil }
func (*Noop) apply(*FSM, uint64) *Result { return &Result{} }

// CreateKey adds a key. Applying the same CreateKey twice (a retry after
// a lost leadership) returns the key created the first time.
type CreateKey struct {
	Key Key `json:"key"`
}

func (*CreateKey) Op() Op { return OpCreateKey }

func (c *CreateKey) validate() error {
	if c.Key.ID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *CreateKey) apply(f *FSM, _ uint64) *Result {
	k := c.Key
	if old, ok := f.keys.Get(&Key{ID: k.ID}); ok {
		// A retried proposal of the same key is not an error.
		return &Result{Key: old}
	}
	if _, ok := f.tombstones.Get(&DeletedKey{ID: k.ID}); ok {
		// A retry that arrives after the key it created was deleted
		// must not bring the key back.
		return &Result{Err: reject(wire.KMSInvalidState, "Key '"+k.ID+"' was deleted; a key id is never used again.")}
	}
	for _, v := range k.Versions {
		if rej := f.retiredEKT(v.EKT); rej != nil {
			return &Result{Err: rej}
		}
	}
	// A key proposed without a policy gets its account's default.
	nk := withDefaultPolicy(k.clone())
	f.keys.ReplaceOrInsert(nk)
	return &Result{Key: nk}
}

// SetKeyEnabled enables or disables a key (EnableKey, DisableKey).
type SetKeyEnabled struct {
	KeyID   string `json:"key_id"`
	Enabled bool   `json:"enabled"`
}

func (*SetKeyEnabled) Op() Op          { return OpSetKeyEnabled }
func (*SetKeyEnabled) validate() error { return nil }

func (c *SetKeyEnabled) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		if k.State == PendingImport {
			return reject(wire.KMSInvalidState, k.ARN+" is pending import.")
		}
		if c.Enabled {
			k.State = Enabled
		} else {
			k.State = Disabled
		}
		return nil
	})
}

// UpdateKeyDescription replaces a key's description.
type UpdateKeyDescription struct {
	KeyID       string `json:"key_id"`
	Description string `json:"description"`
}

func (*UpdateKeyDescription) Op() Op          { return OpUpdateKeyDescription }
func (*UpdateKeyDescription) validate() error { return nil }

func (c *UpdateKeyDescription) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		k.Description = c.Description
		return nil
	})
}

// ScheduleKeyDeletion puts a key in PendingDeletion until DeletionDate.
type ScheduleKeyDeletion struct {
	KeyID               string `json:"key_id"`
	DeletionDate        int64  `json:"deletion_date"`
	PendingWindowInDays int32  `json:"pending_window_in_days"`
}

func (*ScheduleKeyDeletion) Op() Op          { return OpScheduleKeyDeletion }
func (*ScheduleKeyDeletion) validate() error { return nil }

func (c *ScheduleKeyDeletion) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		k.State = PendingDeletion
		k.DeletionDate = c.DeletionDate
		k.PendingWindowInDays = c.PendingWindowInDays
		return nil
	})
}

// CancelKeyDeletion returns a key pending deletion to Disabled, or to
// PendingImport if it is a key of origin EXTERNAL without material.
type CancelKeyDeletion struct {
	KeyID string `json:"key_id"`
}

func (*CancelKeyDeletion) Op() Op          { return OpCancelKeyDeletion }
func (*CancelKeyDeletion) validate() error { return nil }

func (c *CancelKeyDeletion) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if k.State != PendingDeletion {
			return reject(wire.KMSInvalidState, k.ARN+" is not pending deletion.")
		}
		k.State = Disabled
		if k.Origin == OriginExternal && len(k.Versions) == 0 {
			k.State = PendingImport // its material was deleted or expired
		}
		k.DeletionDate = 0
		k.PendingWindowInDays = 0
		return nil
	})
}

// DeleteKey deletes a key whose deletion waiting period has ended, and
// with it everything that is only the key's: its material (the EKT of
// every version), its tags, its grants and its aliases. The leader
// proposes it (package lifecycle, kms.Service.DueDeletion) with its own
// time; apply decides again whether the key is due, so a stale or
// duplicate proposal, or one that lost the race to a CancelKeyDeletion,
// is refused and the key is deleted exactly once. A deleted key's id then
// names nothing: every read answers as for a key that never existed, and
// with Tombstone the state keeps a [DeletedKey] so that a CreateKey of the
// same id (a retry of the proposal that created it) is refused.
type DeleteKey struct {
	KeyID string `json:"key_id"`
	// Now is the proposing leader's time, Unix milliseconds. The key is
	// deleted only if it is pending deletion and Now is at or after its
	// DeletionDate.
	Now int64 `json:"now"`
	// Tombstone keeps a DeletedKey. Set by every proposer since
	// tombstones exist; commands from before them keep none, so an old
	// log replays to the state it reached.
	Tombstone bool `json:"tombstone,omitempty"`
}

// DeletedKey is the tombstone of a deleted key: its id is never used
// again.
type DeletedKey struct {
	ID        string `json:"id"`
	Account   string `json:"account"`
	DeletedAt int64  `json:"deleted_at"` // Unix milliseconds, DeleteKey's Now
}

func deletedKeyLess(a, b *DeletedKey) bool { return a.ID < b.ID }

// KeyDeleted reports whether a key with id was deleted (it has a
// tombstone).
func (f *FSM) KeyDeleted(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.tombstones.Get(&DeletedKey{ID: id})
	return ok
}

func (*DeleteKey) Op() Op { return OpDeleteKey }

func (c *DeleteKey) validate() error {
	if c.KeyID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *DeleteKey) apply(f *FSM, _ uint64) *Result {
	k, ok := f.keys.Get(&Key{ID: c.KeyID})
	switch {
	case !ok:
		return &Result{Err: reject(wire.NotFound, "Key '"+c.KeyID+"' does not exist")}
	case k.State != PendingDeletion:
		return &Result{Err: reject(wire.KMSInvalidState, k.ARN+" is not pending deletion.")}
	case c.Now < k.DeletionDate:
		return &Result{Err: reject(wire.KMSInvalidState, k.ARN+" is pending deletion until "+
			time.UnixMilli(k.DeletionDate).UTC().Format(time.RFC3339)+".")}
	}
	f.keys.Delete(k)
	f.grants.removeKey(k.ID)
	f.aliases.removeKey(k.Account, k.ID)
	if c.Tombstone {
		f.tombstones.ReplaceOrInsert(&DeletedKey{ID: k.ID, Account: k.Account, DeletedAt: c.Now})
	}
	f.deleted = append(f.deleted, k.ID)
	return &Result{Key: k}
}

func notPendingDeletion(k *Key) *Rejection {
	if k.State == PendingDeletion {
		return reject(wire.KMSInvalidState, k.ARN+" is pending deletion.")
	}
	return nil
}

// updateKey applies change to a copy of the key and publishes the copy, or
// publishes nothing if change refuses.
func (f *FSM) updateKey(id string, change func(*Key) *Rejection) *Result {
	old, ok := f.keys.Get(&Key{ID: id})
	if !ok {
		return &Result{Err: reject(wire.NotFound, "Key '"+id+"' does not exist")}
	}
	k := old.clone()
	if r := change(k); r != nil {
		return &Result{Err: r}
	}
	f.keys.ReplaceOrInsert(k)
	return &Result{Key: k}
}
