package raft

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/trentkms/trent/failpoint"
)

// watchedStore is the log and vote store as raft sees it: every write
// goes to bolt, and the last failed one is remembered until a write
// succeeds again, so that the node can say why it stopped accepting
// entries (a full disk, a failed fsync). The fault points of the log
// append (-tags faultinject) are here too.
type watchedStore struct {
	*raftboltdb.BoltStore

	closing atomic.Bool // Close has begun: no more retries

	mu      sync.Mutex
	failing error
}

var (
	_ hraft.LogStore    = (*watchedStore)(nil)
	_ hraft.StableStore = (*watchedStore)(nil)
)

// note records the outcome of a write.
func (s *watchedStore) note(what string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failing = fmt.Errorf("%s: %w", what, err)
	} else {
		s.failing = nil
	}
	return err
}

// Failing returns the last write failure, nil once a write succeeds.
func (s *watchedStore) Failing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failing
}

func (s *watchedStore) StoreLog(l *hraft.Log) error {
	return s.StoreLogs([]*hraft.Log{l})
}

func (s *watchedStore) StoreLogs(logs []*hraft.Log) error {
	if err := failpoint.Hit("raft-log-append"); err != nil {
		return s.note("append to the raft log", err)
	}
	err := s.note("append to the raft log", s.BoltStore.StoreLogs(logs))
	if err == nil {
		// Durable, not yet acknowledged or applied.
		err = s.note("append to the raft log", failpoint.Hit("raft-log-appended"))
	}
	return err
}

func (s *watchedStore) DeleteRange(lo, hi uint64) error {
	return s.note("delete raft log entries", s.BoltStore.DeleteRange(lo, hi))
}

func (s *watchedStore) Set(k, v []byte) error {
	return s.stable("store the raft vote", func() error { return s.BoltStore.Set(k, v) })
}

func (s *watchedStore) SetUint64(k []byte, v uint64) error {
	return s.stable("store the raft term", func() error { return s.BoltStore.SetUint64(k, v) })
}

// stableRetry bounds how long a term or vote write is retried.
const stableRetry = 10 * time.Second

// stable writes a term or vote, retrying for up to stableRetry while it
// fails. hashicorp/raft panics when it cannot save a new term, which
// would turn a disk that is full for a moment into a crash; retrying
// stalls raft instead (it acknowledges nothing meanwhile) and goes on
// once the disk works. A failure that outlasts the retries, or one while
// the node closes, is returned (and the node crashes).
func (s *watchedStore) stable(what string, write func() error) error {
	deadline := time.Now().Add(stableRetry)
	for {
		err := failpoint.Hit("raft-stable-store")
		if err == nil {
			err = write()
		}
		if s.note(what, err) == nil || s.closing.Load() || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
