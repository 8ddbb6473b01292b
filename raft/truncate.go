package raft

import (
	"errors"
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
// replaces, which the bolt store does in place), then what is left of
// the suffix is deleted. If the append fails nothing was deleted, which
// is what raft believes. If the append lands but that deletion fails, the
// append is reported durable and the leftover entries stay hidden and are
// deleted before the next write, so a log never holds new entries
// followed by older-term leftovers (a leftover that outlives the process
// is an uncommitted tail, which the leader cuts again). A cut is told
// from a compaction by where it starts: a compaction deletes from the
// first index, a cut after it and through the last. Until the append,
// reads see the cut as done.
type suffixStore struct {
	hraft.LogStore

	mu  sync.Mutex
	cut *[2]uint64 // a suffix deletion held back: [lo, hi]
	// left is what remains of a cut whose append landed but whose
	// deletion failed (a full disk): entries raft no longer counts,
	// hidden from reads and deleted again before the next write.
	left *[2]uint64
}

var _ hraft.LogStore = (*suffixStore)(nil)

func (s *suffixStore) DeleteRange(lo, hi uint64) error {
	if err := s.dropLeft(); err != nil {
		return err
	}
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
	if err := s.dropLeft(); err != nil {
		return err
	}
	s.mu.Lock()
	cut := s.cut
	s.mu.Unlock()
	if err := s.LogStore.StoreLogs(logs); err != nil {
		// The suffix is whole, as raft believes; it cuts again when
		// it retries.
		s.mu.Lock()
		s.cut = nil
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = nil
	if cut != nil && len(logs) > 0 {
		if top := logs[len(logs)-1].Index; top < cut[1] {
			if err := s.LogStore.DeleteRange(top+1, cut[1]); err != nil {
				// The append is durable, so report it: raft then
				// counts it and processes its entries. What is left
				// of the cut stays hidden until a delete succeeds.
				s.left = &[2]uint64{top + 1, cut[1]}
			}
		}
	}
	return nil
}

// dropLeft deletes what is left of an earlier cut, if anything, before a
// write: entries that follow it must not sit below older-term leftovers.
func (s *suffixStore) dropLeft() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == nil {
		return nil
	}
	if err := s.LogStore.DeleteRange(s.left[0], s.left[1]); err != nil {
		return err
	}
	s.left = nil
	return nil
}

// hidden returns the range reads must not see: a cut held back, or what
// is left of one.
func (s *suffixStore) hidden() *[2]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut != nil {
		return s.cut
	}
	return s.left
}

func (s *suffixStore) LastIndex() (uint64, error) {
	if h := s.hidden(); h != nil {
		return h[0] - 1, nil
	}
	return s.LogStore.LastIndex()
}

func (s *suffixStore) GetLog(index uint64, l *hraft.Log) error {
	if h := s.hidden(); h != nil && index >= h[0] && index <= h[1] {
		return hraft.ErrLogNotFound
	}
	return s.LogStore.GetLog(index, l)
}

// dropOlderTermTail deletes a tail of the log whose first entry has a
// lower term than the entry before it: what is left of a cut whose
// deletion failed and outlived the process (see suffixStore). Such a tail
// was never committed (a leader cut it), and leaving it would put
// older-term entries after newer ones, which raft's log matching does
// not allow for. It runs once, before raft opens the log.
//
// It looks only at the run of consecutive entries that ends the log: a
// follower that installed a snapshot keeps the entries it had below the
// snapshot and appends after it, so the log may have a gap, and what is
// below a gap is from before a snapshot (raft does not read it), not a
// leftover of a cut.
func dropOlderTermTail(logs hraft.LogStore) error {
	first, err := logs.FirstIndex()
	if err != nil {
		return err
	}
	last, err := logs.LastIndex()
	if err != nil || last <= first {
		return err
	}
	var l hraft.Log
	if err := logs.GetLog(last, &l); err != nil {
		return err
	}
	after := l.Term
	for i := last - 1; i >= first && i > 0; i-- {
		if err := logs.GetLog(i, &l); errors.Is(err, hraft.ErrLogNotFound) {
			return nil // a gap: the run that ends the log starts above it
		} else if err != nil {
			return err
		}
		if l.Term > after {
			return logs.DeleteRange(i+1, last)
		}
		after = l.Term
	}
	return nil
}
