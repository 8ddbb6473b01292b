package raft

import (
	"fmt"
	"sync"

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
	if err := failpoint.Hit("raft-stable-store"); err != nil {
		return s.note("store the raft vote", err)
	}
	return s.note("store the raft vote", s.BoltStore.Set(k, v))
}

func (s *watchedStore) SetUint64(k []byte, v uint64) error {
	if err := failpoint.Hit("raft-stable-store"); err != nil {
		return s.note("store the raft term", err)
	}
	return s.note("store the raft term", s.BoltStore.SetUint64(k, v))
}
