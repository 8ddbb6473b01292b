package raft

import (
	"sync"

	hraft "github.com/hashicorp/raft"
)

// suffixStore keeps raft's idea of its last log entry true when a
// follower's append fails after it cut a conflicting suffix.
//
// hashicorp/raft (v1.8, appendEntries) deletes a follower's conflicting
// entries and then stores the leader's; if the store fails (a full disk)
// it returns with its in-memory last index still that of the deleted
// suffix (its own TODO says so). From then on every AppendEntries asks
// for an entry it deleted, fails, and the follower never catches up until
// it restarts (Jepsen grants/disk-full, seed 3212: the old leader, whose
// disk filled, stayed 33 entries behind for minutes after space came
// back).
//
// suffixStore holds such a cut back until the append that follows it:
// the append is stored first (overwriting the conflicting entries it
// replaces), then what is left of the suffix is deleted. If the append
// fails nothing was deleted, which is what raft believes. A cut is told
// from a compaction by where it starts: a compaction deletes from the
// first index, a cut after it and through the last. Until the append,
// reads see the cut as done.
type suffixStore struct {
	hraft.LogStore

	mu  sync.Mutex
	cut *[2]uint64 // a suffix deletion held back: [lo, hi]
}

var _ hraft.LogStore = (*suffixStore)(nil)

func (s *suffixStore) DeleteRange(lo, hi uint64) error {
	first, err := s.LogStore.FirstIndex()
	if err != nil {
		return err
	}
	last, err := s.LogStore.LastIndex()
	if err != nil {
		return err
	}
	if lo <= first || hi < last {
		return s.LogStore.DeleteRange(lo, hi)
	}
	s.mu.Lock()
	s.cut = &[2]uint64{lo, hi}
	s.mu.Unlock()
	return nil
}

func (s *suffixStore) StoreLog(l *hraft.Log) error { return s.StoreLogs([]*hraft.Log{l}) }

func (s *suffixStore) StoreLogs(logs []*hraft.Log) error {
	s.mu.Lock()
	cut := s.cut
	s.cut = nil
	s.mu.Unlock()
	if err := s.LogStore.StoreLogs(logs); err != nil {
		// The suffix is whole, as raft believes; it cuts again when
		// it retries.
		return err
	}
	if cut != nil && len(logs) > 0 {
		if top := logs[len(logs)-1].Index; top < cut[1] {
			// An error leaves entries past the append that raft does
			// not count; they conflict with the leader's and are cut
			// again on the next append.
			return s.LogStore.DeleteRange(top+1, cut[1])
		}
	}
	return nil
}

func (s *suffixStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	cut := s.cut
	s.mu.Unlock()
	if cut != nil {
		return cut[0] - 1, nil
	}
	return s.LogStore.LastIndex()
}

func (s *suffixStore) GetLog(index uint64, l *hraft.Log) error {
	s.mu.Lock()
	cut := s.cut
	s.mu.Unlock()
	if cut != nil && index >= cut[0] && index <= cut[1] {
		return hraft.ErrLogNotFound
	}
	return s.LogStore.GetLog(index, l)
}
