package raft

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
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

// heartbeats confirms a leader's leadership for read indexes with a round
// of heartbeats of its own, sent after the confirmation began: a
// follower answers one with success only while it is in the heartbeat's
// term, so a quorum of such answers proves that no later leader had been
// elected when they were given (its voters would have moved to a newer
// term and refused), and hence none had acknowledged a write. Only
// answers to this round count, never the answer to a heartbeat sent
// before (the flaw of hashicorp/raft's VerifyLeader; see
// confirmLeadership). The heartbeats are raft's own (no entries, no
// commit index), which followers answer on their fast path, without
// touching their logs.
type heartbeats struct {
	trans   hraft.Transport
	id      hraft.ServerID
	addr    hraft.ServerAddress
	timeout time.Duration // for a quorum's answers
}

// errNoQuorum is a heartbeat round that a quorum did not answer in its term.
var errNoQuorum = errors.New("raft: a quorum did not confirm the leadership")

// quorum returns nil once a quorum of r's voters (this node among them if
// it votes) has answered, in term, a heartbeat sent by this call.
func (h heartbeats) quorum(r *hraft.Raft, term uint64) error {
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	var peers []hraft.Server
	voters, self := 0, false
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage != hraft.Voter {
			continue
		}
		voters++
		if s.ID == h.id {
			self = true
			continue
		}
		peers = append(peers, s)
	}
	need := voters/2 + 1
	if self {
		need--
	}
	if need <= 0 {
		return nil
	}
	if need > len(peers) {
		return errNoQuorum
	}
	leader := h.trans.EncodePeer(h.id, h.addr)
	answers := make(chan error, len(peers)) // outlives the call if it returns early
	for _, p := range peers {
		req := &hraft.AppendEntriesRequest{
			RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(h.id), Addr: leader},
			Term:      term,
		}
		go func() {
			var resp hraft.AppendEntriesResponse
			err := h.trans.AppendEntries(p.ID, p.Address, req, &resp)
			switch {
			case err != nil:
			case resp.Term > term:
				err = hraft.ErrLeadershipLost
			case !resp.Success:
				err = errNoQuorum
			}
			answers <- err
		}()
	}
	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	for acks, fails := 0, 0; acks < need; {
		select {
		case err := <-answers:
			if err == nil {
				acks++
				continue
			}
			if errors.Is(err, hraft.ErrLeadershipLost) {
				return err
			}
			if fails++; len(peers)-fails < need {
				return fmt.Errorf("%w: %v", errNoQuorum, err)
			}
		case <-timer.C:
			return fmt.Errorf("%w within %v", errNoQuorum, h.timeout)
		}
	}
	return nil
}
