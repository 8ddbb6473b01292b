package raft

import (
	"context"
	"sync"
)

// sharedConfirm shares a leader's confirmations among concurrent read
// index requests. A confirmation notes the commit index and then has a
// quorum confirm the leadership; a request is answered by a confirmation
// that started after it arrived, since one started earlier may have noted
// the commit index before a write the request must see was acknowledged.
// So one confirmation runs at a time: requests arriving while it runs
// share the next, which starts when it ends (and so after they all
// arrived). Under load a leader confirms once per quorum round trip, not
// once per request; the followers' trackers (package consistency) batch
// their reads the same way, so what reaches a leader is already one
// request per follower at a time, plus its own.
type sharedConfirm struct {
	// confirm notes the commit index and confirms leadership; it returns
	// the index a read must wait for.
	confirm func() (uint64, error)

	mu      sync.Mutex
	running bool
	next    *confirmation // requests waiting for the next run; nil if none
}

// confirmation is one run of confirm, and its outcome.
type confirmation struct {
	done    chan struct{}
	waiters int // requests it answers; guarded by sharedConfirm.mu
	idx     uint64
	err     error
}

// do returns the outcome of a confirmation that starts after the call.
func (s *sharedConfirm) do(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	if s.next == nil {
		s.next = &confirmation{done: make(chan struct{})}
	}
	c := s.next
	c.waiters++
	if !s.running {
		s.running, s.next = true, nil
		go s.run(c)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.idx, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run confirms for c, then for the requests that arrived meanwhile, until
// none wait. It does not use a caller's context: others may be waiting.
func (s *sharedConfirm) run(c *confirmation) {
	for c != nil {
		c.idx, c.err = s.confirm()
		close(c.done)
		s.mu.Lock()
		c, s.next = s.next, nil
		s.running = c != nil
		s.mu.Unlock()
	}
}
