package fsm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
	hraft "github.com/hashicorp/raft"
)

// Result is what applying one command returns (raft hands it back to the
// proposer as ApplyFuture.Response). Exactly one of Err and the value
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
}

// FSM is the replicated key store. It implements hraft.BatchingFSM.
// It is safe for concurrent use: raft applies from one goroutine while any
// number of readers call the read methods.
type FSM struct {
	mu sync.RWMutex // guards keys, grants, cluster, iam and authz
	// keys holds *Key by id. Values are immutable once inserted.
	keys    *btree.BTreeG[*Key]
	grants  *grantIndex
	cluster *clusterState
	iam     *iamState
	authz   *authzState
	certs   *certState

	applied atomic.Uint64 // index of the last entry applied

	notifyMu sync.Mutex    // guards notify
	notify   chan struct{} // closed and replaced whenever applied grows
}

var _ hraft.BatchingFSM = (*FSM)(nil)

func keyLess(a, b *Key) bool { return a.ID < b.ID }

// New returns an empty FSM.
func New() *FSM {
	return &FSM{keys: btree.NewG(32, keyLess), grants: newGrantIndex(), cluster: newClusterState(), iam: newIAMState(), authz: newAuthzState(), certs: newCertState(), notify: make(chan struct{})}
}

// Apply applies one log entry. See ApplyBatch.
func (f *FSM) Apply(l *hraft.Log) any {
	return f.ApplyBatch([]*hraft.Log{l})[0]
}

// ApplyBatch applies committed entries in order and returns one *Result (or
// nil for non-command entries) per entry. It never fails as a whole: a
// malformed or refused command yields a Result whose Err says why.
func (f *FSM) ApplyBatch(logs []*hraft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != hraft.LogCommand {
			continue // configuration entries only advance the index
		}
		c, err := Decode(l.Data)
		if err != nil {
			out[i] = &Result{Index: l.Index, Err: reject("KMSInternalException", "malformed replicated command")}
			continue
		}
		r := f.apply(c, l.Index)
		r.Index = l.Index
		out[i] = r
	}
	f.mu.Unlock()
	if n := len(logs); n > 0 {
		f.setApplied(logs[n-1].Index)
	}
	return out
}

// apply runs one command, the entry at index, against the state. f.mu is held.
func (f *FSM) apply(c *Command, index uint64) *Result {
	switch c.Op {
	case OpNoop:
		return &Result{}
	case OpCreateKey:
		k := c.CreateKey.Key
		if old, ok := f.keys.Get(&Key{ID: k.ID}); ok {
			// A retried proposal of the same key is not an error.
			return &Result{Key: old}
		}
		// A key proposed without a policy gets its account's default.
		nk := withDefaultPolicy(k.clone())
		f.keys.ReplaceOrInsert(nk)
		return &Result{Key: nk}
	case OpSetKeyEnabled:
		return f.updateKey(c.SetKeyEnabled.KeyID, func(k *Key) *Rejection {
			if r := notPendingDeletion(k); r != nil {
				return r
			}
			if k.State == PendingImport {
				return reject("KMSInvalidStateException", k.ARN+" is pending import.")
			}
			if c.SetKeyEnabled.Enabled {
				k.State = Enabled
			} else {
				k.State = Disabled
			}
			return nil
		})
	case OpUpdateKeyDescription:
		return f.updateKey(c.UpdateKeyDescription.KeyID, func(k *Key) *Rejection {
			if r := notPendingDeletion(k); r != nil {
				return r
			}
			k.Description = c.UpdateKeyDescription.Description
			return nil
		})
	case OpScheduleKeyDeletion:
		cmd := c.ScheduleKeyDeletion
		return f.updateKey(cmd.KeyID, func(k *Key) *Rejection {
			if r := notPendingDeletion(k); r != nil {
				return r
			}
			k.State = PendingDeletion
			k.DeletionDate = cmd.DeletionDate
			k.PendingWindowInDays = cmd.PendingWindowInDays
			return nil
		})
	case OpCancelKeyDeletion:
		return f.updateKey(c.CancelKeyDeletion.KeyID, func(k *Key) *Rejection {
			if k.State != PendingDeletion {
				return reject("KMSInvalidStateException", k.ARN+" is not pending deletion.")
			}
			k.State = Disabled
			k.DeletionDate = 0
			k.PendingWindowInDays = 0
			return nil
		})
	case OpInitCluster, OpRegisterNode, OpAddJoinToken, OpConsumeJoinToken, OpRemoveNode, OpSetGossipKey, OpClusterFormed:
		return f.applyCluster(c)
	case OpCreateUser, OpDeleteUser, OpCreateAccessKey, OpDeleteAccessKey:
		return f.applyIAM(c)
	case OpPutKeyPolicy, OpCreateRole, OpDeleteRole, OpPutPrincipalPolicy, OpDeletePrincipalPolicy:
		return f.applyAuthz(c)
	case OpRevokeCert:
		return f.revokeCert(c.RevokeCert)
	case OpRecordCert:
		return f.recordCert(c.RecordCert)
	case OpCreateGrant:
		return f.createGrant(c.CreateGrant, index)
	case OpDeleteGrant:
		g, ok := f.grants.get(c.DeleteGrant.KeyID, c.DeleteGrant.GrantID)
		if !ok {
			return &Result{Err: reject("NotFoundException", "Grant ID "+c.DeleteGrant.GrantID+" not found")}
		}
		f.grants.remove(g)
		return &Result{Grant: g}
	}
	return &Result{Err: reject("KMSInternalException", "unknown replicated command")}
}

// createGrant applies CreateGrant. Name idempotency is decided here, in
// log order, so concurrent retries and retries across a leader change can
// never make two grants.
func (f *FSM) createGrant(c *CreateGrant, index uint64) *Result {
	g := c.Grant
	k, ok := f.keys.Get(&Key{ID: g.KeyID})
	if !ok {
		return &Result{Err: reject("NotFoundException", "Key '"+g.KeyID+"' does not exist")}
	}
	if r := k.Unusable(); r != nil {
		return &Result{Err: r}
	}
	if g.Name != "" {
		var existing *Grant
		f.grants.forGrantee(g.KeyID, g.GranteePrincipal, func(h *Grant) bool {
			if h.sameProperties(&g) {
				existing = h
				return false
			}
			return true
		})
		if existing != nil {
			return &Result{Grant: existing, Existing: true}
		}
	}
	if c.MaxGrantsPerKey > 0 && f.grants.perKey[g.KeyID] >= c.MaxGrantsPerKey {
		return &Result{Err: reject("LimitExceededException", "The request was rejected because the key already has the maximum number of grants.")}
	}
	if _, dup := f.grants.get(g.KeyID, g.ID); dup {
		return &Result{Err: reject("KMSInternalException", "grant id collision")}
	}
	ng := g
	ng.CreatedIndex = index
	f.grants.insert(&ng)
	return &Result{Grant: &ng}
}

func notPendingDeletion(k *Key) *Rejection {
	if k.State == PendingDeletion {
		return reject("KMSInvalidStateException", k.ARN+" is pending deletion.")
	}
	return nil
}

// updateKey applies change to a copy of the key and publishes the copy, or
// publishes nothing if change refuses.
func (f *FSM) updateKey(id string, change func(*Key) *Rejection) *Result {
	old, ok := f.keys.Get(&Key{ID: id})
	if !ok {
		return &Result{Err: reject("NotFoundException", "Key '"+id+"' does not exist")}
	}
	k := old.clone()
	if r := change(k); r != nil {
		return &Result{Err: r}
	}
	f.keys.ReplaceOrInsert(k)
	return &Result{Key: k}
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

// KeyCount returns the number of keys in all accounts.
func (f *FSM) KeyCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.keys.Len()
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
