package fsm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// Entry is a committed log entry, as the log hands it to [FSM.ApplyBatch].
type Entry struct {
	// Index is the entry's position in the log.
	Index uint64
	// Data is the encoded command (see [Encode]).
	Data []byte
	// Membership marks an entry of the log's own, a change of its members:
	// it carries no command, and applying it only advances the applied
	// index (so that a read index pointing at it is reached).
	Membership bool
}

// Result is what applying one command returns (the log hands it back to
// the proposer: it is raft.Node.Apply's response). Exactly one of Err and the value
// members is meaningful.
type Result struct {
	// Index is the log index at which the command applied.
	Index uint64
	// Err is set when the command was refused; nothing changed.
	Err *Rejection
	// Key is the key a key command created or changed.
	Key *Key
	// Grant is the grant CreateGrant made, or the existing grant a retry
	// with the same Name and properties found (then Existing is true).
	Grant    *Grant
	Existing bool
	// User is the user CreateUser made (or found, for a retry: then
	// Existing is true) or DeleteUser removed.
	User *User
	// AccessKey is the access key CreateAccessKey made (or found, for a
	// retry) or DeleteAccessKey removed.
	AccessKey *AccessKey
	// Role is the role CreateRole made (or found) or DeleteRole removed.
	Role *Role
	// Policy is the identity policy PutPrincipalPolicy stored or
	// DeletePrincipalPolicy removed.
	Policy *PrincipalPolicy
	// Revoked is the deny-list record RevokeCert added (or found).
	Revoked *RevokedCert
	// Cert is the issue record RecordCert added (or found, for a retry).
	Cert *IssuedCert
	// Alias is the alias CreateAlias or UpdateAlias made or DeleteAlias
	// removed. (omitempty keeps the encoding of older results unchanged.)
	Alias *Alias `json:",omitempty"`
	// Pruned counts the issue and revocation records PruneCerts forgot.
	Pruned int `json:",omitempty"`
}

// FSM is the replicated key store. It is safe for concurrent use: raft
// applies from one goroutine while any number of readers call the read
// methods.
type FSM struct {
	mu sync.RWMutex // guards the state below
	// keys holds *Key by id. Values are immutable once inserted.
	keys *btree.BTreeG[*Key]
	// tombstones holds a *DeletedKey per deleted key, by id.
	tombstones *btree.BTreeG[*DeletedKey]
	grants     *grantIndex
	cluster    *clusterState
	iam        *iamState
	authz      *authzState
	certs      *certState
	aliases    *aliasState
	// deleted collects the ids of the keys DeleteKey removed in the batch
	// being applied, for keysDeleted.
	deleted []string

	// keysDeleted, if set, is told of every key that leaves the state.
	keysDeleted func(ids []string)

	applied atomic.Uint64 // index of the last entry applied

	notifyMu sync.Mutex    // guards notify
	notify   chan struct{} // closed and replaced whenever applied grows
}

func keyLess(a, b *Key) bool { return a.ID < b.ID }

// New returns an empty FSM.
func New() *FSM {
	return &FSM{keys: btree.NewG(32, keyLess), tombstones: btree.NewG(32, deletedKeyLess), grants: newGrantIndex(), cluster: newClusterState(), iam: newIAMState(), authz: newAuthzState(), certs: newCertState(), aliases: newAliasState(), notify: make(chan struct{})}
}

// Apply applies one log entry. See ApplyBatch.
func (f *FSM) Apply(e Entry) any {
	return f.ApplyBatch([]Entry{e})[0]
}

// ApplyBatch applies committed entries in order and returns one *Result (or
// nil for membership entries) per entry. It never fails as a whole: a
// malformed or refused command yields a Result whose Err says why.
func (f *FSM) ApplyBatch(entries []Entry) []any {
	out := make([]any, len(entries))
	f.mu.Lock()
	for i, e := range entries {
		if e.Membership {
			continue // membership entries only advance the index
		}
		c, err := Decode(e.Data)
		if err != nil {
			out[i] = &Result{Index: e.Index, Err: reject("KMSInternalException", "malformed replicated command")}
			continue
		}
		r := c.apply(f, e.Index)
		r.Index = e.Index
		out[i] = r
	}
	deleted := f.deleted
	f.deleted = nil
	f.mu.Unlock()
	f.tellDeleted(deleted)
	if n := len(entries); n > 0 {
		f.setApplied(entries[n-1].Index)
	}
	return out
}

// OnKeysDeleted makes the FSM call fn with the ids of the keys that left
// its state: those a DeleteKey removed, and those a Restore's state no
// longer has (a node that missed the deletion's log entry); and of the
// keys whose imported material was deleted (DeleteImportedKeyMaterial,
// DeleteExpiredKeyMaterial). The server
// uses it to make the HSM forget what it cached of them. fn is called on
// the applying goroutine, after the state changed and before the applied
// index moves (so whoever waits for the index finds it done), without
// the FSM's lock held; it must be quick and must not block on the FSM.
// Call OnKeysDeleted before the FSM applies anything.
func (f *FSM) OnKeysDeleted(fn func(ids []string)) {
	f.keysDeleted = fn
}

func (f *FSM) tellDeleted(ids []string) {
	if len(ids) > 0 && f.keysDeleted != nil {
		f.keysDeleted(ids)
	}
}

// setApplied records the applied index and wakes waiters.
func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.notifyMu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.notifyMu.Unlock()
}

// AppliedIndex returns the index of the last log entry applied. Unlike
// raft's own AppliedIndex, it moves only after the state has changed.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// WaitApplied blocks until the FSM has applied index idx or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		f.notifyMu.Lock()
		ch := f.notify
		f.notifyMu.Unlock()
		if f.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Key returns the key with the given id.
func (f *FSM) Key(id string) (*Key, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.keys.Get(&Key{ID: id})
}

// ListKeys returns up to limit keys of account with ids greater than after,
// in id order, and whether more follow.
func (f *FSM) ListKeys(account, after string, limit int) (keys []*Key, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.keys.AscendGreaterOrEqual(&Key{ID: after}, func(k *Key) bool {
		if k.ID == after || k.Account != account {
			return true
		}
		if len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, k)
		return true
	})
	return keys, more
}

// ScanKeys returns up to limit keys of every account with ids greater
// than after, in id order, and whether more follow.
func (f *FSM) ScanKeys(after string, limit int) (keys []*Key, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.keys.AscendGreaterOrEqual(&Key{ID: after}, func(k *Key) bool {
		if k.ID == after {
			return true
		}
		if len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, k)
		return true
	})
	return keys, more
}

// KeyCount returns the number of keys in all accounts.
func (f *FSM) KeyCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.keys.Len()
}

// TotalGrants returns the number of grants on all keys.
func (f *FSM) TotalGrants() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.grants.byKey.Len()
}

// Grant returns the grant with the given id on the given key.
func (f *FSM) Grant(keyID, id string) (*Grant, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.grants.get(keyID, id)
}

// GrantsFor calls fn for each grant on key whose grantee is principal,
// until fn returns false. Its cost grows with that grantee's grants on the
// key, not with all the key's grants. fn runs under the read lock: keep it
// short and do not call back into the FSM.
func (f *FSM) GrantsFor(keyID, principal string, fn func(*Grant) bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.grants.forGrantee(keyID, principal, fn)
}

// GrantCount returns the number of grants on a key.
func (f *FSM) GrantCount(keyID string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.grants.perKey[keyID]
}

// ListGrants returns up to limit grants on key with ids after `after`, in
// id order, optionally only those of one grantee, and whether more follow.
func (f *FSM) ListGrants(keyID, after, grantee string, limit int) (out []*Grant, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.grants.byKey.AscendGreaterOrEqual(&Grant{KeyID: keyID, ID: after}, func(g *Grant) bool {
		if g.KeyID != keyID {
			return false
		}
		if g.ID == after || (grantee != "" && g.GranteePrincipal != grantee) {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, g)
		return true
	})
	return out, more
}

// ListRetirableGrants returns up to limit grants whose retiring principal
// is principal, ordered by (key, id) after the given position.
func (f *FSM) ListRetirableGrants(principal, afterKey, afterID string, limit int) (out []*Grant, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	start := &Grant{RetiringPrincipal: principal, KeyID: afterKey, ID: afterID}
	f.grants.byRetiring.AscendGreaterOrEqual(start, func(g *Grant) bool {
		if g.RetiringPrincipal != principal {
			return false
		}
		if g.KeyID == afterKey && g.ID == afterID {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, g)
		return true
	})
	return out, more
}
