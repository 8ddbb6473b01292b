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
}

// FSM is the replicated key store. It implements hraft.BatchingFSM.
// It is safe for concurrent use: raft applies from one goroutine while any
// number of readers call the read methods.
type FSM struct {
	mu sync.RWMutex // guards keys
	// keys holds *Key by id. Values are immutable once inserted.
	keys *btree.BTreeG[*Key]

	applied atomic.Uint64 // index of the last entry applied

	notifyMu sync.Mutex    // guards notify
	notify   chan struct{} // closed and replaced whenever applied grows
}

var _ hraft.BatchingFSM = (*FSM)(nil)

func keyLess(a, b *Key) bool { return a.ID < b.ID }

// New returns an empty FSM.
func New() *FSM {
	return &FSM{keys: btree.NewG(32, keyLess), notify: make(chan struct{})}
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
		r := f.apply(c)
		r.Index = l.Index
		out[i] = r
	}
	f.mu.Unlock()
	if n := len(logs); n > 0 {
		f.setApplied(logs[n-1].Index)
	}
	return out
}

// apply runs one command against the state. f.mu is held.
func (f *FSM) apply(c *Command) *Result {
	switch c.Op {
	case OpNoop:
		return &Result{}
	case OpCreateKey:
		k := c.CreateKey.Key
		if old, ok := f.keys.Get(&Key{ID: k.ID}); ok {
			// A retried proposal of the same key is not an error.
			return &Result{Key: old}
		}
		nk := k.clone()
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
	}
	return &Result{Err: reject("KMSInternalException", "unknown replicated command")}
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
