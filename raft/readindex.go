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

// termProbe confirms a leader's leadership for read indexes with a round
// of AppendEntries of its own, sent after the confirmation began, that
// ask each voter only which term it is in: a voter answers in the
// probe's term only while it has not moved to a newer one, so answers in
// that term from a quorum prove that no later leader had been elected
// when they were given (its voters would have moved on), and hence none
// had acknowledged a write. Only answers to this round count, never the
// answer to a message sent before (the flaw of hashicorp/raft's
// VerifyLeader; see confirmLeadership).
//
// A probe carries no entries and no commit index, so it changes no log.
// It names the entry at the read index as its previous entry, which
// keeps it off hashicorp/raft's heartbeat fast path: a follower handles
// it on its main loop, in order with everything else. A heartbeat of a
// newer term handled on the fast path races the main loop of an old
// leader that receives it (hashicorp/raft#695), and probes, sent once
// per read round trip, would make that the usual way an old leader
// learns of its successor. The answer counts whether or not the previous
// entry matched: only its term matters.
//
// At most maxProbesInFlight probes per peer are in flight: a peer that
// has not answered that many counts as not answering this round (a late
// answer could not count anyway), so a silent peer costs two goroutines
// and connections, not one per round. Two, not one: rounds run back to
// back, and a peer a little slower than the quorum is still answering the
// last round when the next begins.
type termProbe struct {
	trans   hraft.Transport
	logs    hraft.LogStore // for the term of the previous entry; nil in some tests
	id      hraft.ServerID
	addr    hraft.ServerAddress
	timeout time.Duration // for a quorum's answers

	mu   sync.Mutex
	busy map[hraft.ServerID]int // probes in flight per peer
}

const maxProbesInFlight = 2

// errNoQuorum is a probe round that a quorum did not answer in its term.
var errNoQuorum = errors.New("raft: a quorum did not confirm the leadership")

// quorum returns nil once a quorum of r's voters (this node among them if
// it votes) has answered, in term, a probe sent by this call that names
// entry idx.
func (h *termProbe) quorum(r *hraft.Raft, term, idx uint64) error {
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
	idx = max(idx, 1) // a previous entry of 0 would make it a heartbeat
	var prevTerm uint64
	if h.logs != nil {
		var l hraft.Log
		if err := h.logs.GetLog(idx, &l); err == nil {
			prevTerm = l.Term
		}
	}
	leader := h.trans.EncodePeer(h.id, h.addr)
	answers := make(chan error, len(peers)) // outlives the call if it returns early
	sent := 0
	h.mu.Lock()
	if h.busy == nil {
		h.busy = make(map[hraft.ServerID]int)
	}
	for _, p := range peers {
		if h.busy[p.ID] >= maxProbesInFlight {
			continue
		}
		h.busy[p.ID]++
		sent++
		req := &hraft.AppendEntriesRequest{
			RPCHeader:    hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(h.id), Addr: leader},
			Term:         term,
			PrevLogEntry: idx,
			PrevLogTerm:  prevTerm,
		}
		go func() {
			var resp hraft.AppendEntriesResponse
			err := h.trans.AppendEntries(p.ID, p.Address, req, &resp)
			h.mu.Lock()
			if h.busy[p.ID]--; h.busy[p.ID] == 0 {
				delete(h.busy, p.ID)
			}
			h.mu.Unlock()
			switch {
			case err != nil:
			case resp.Term > term:
				err = hraft.ErrLeadershipLost
			case resp.Term < term:
				err = errNoQuorum // not an answer in this term
			}
			answers <- err
		}()
	}
	h.mu.Unlock()
	if need > sent {
		return fmt.Errorf("%w: %d of %d peers could be asked", errNoQuorum, sent, len(peers))
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
			if fails++; sent-fails < need {
				return fmt.Errorf("%w: %v", errNoQuorum, err)
			}
		case <-timer.C:
			return fmt.Errorf("%w within %v", errNoQuorum, h.timeout)
		}
	}
	return nil
}
