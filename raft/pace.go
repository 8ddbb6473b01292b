package raft

import (
	"time"

	hraft "github.com/hashicorp/raft"
)

// storeRetryPace is how long a leader waits before sending a follower
// again the entries it could not store (see pacedTransport).
const storeRetryPace = 100 * time.Millisecond

// fullTransport is what hashicorp/raft uses of the node's transport: the
// RPCs, pre-vote and Close.
type fullTransport interface {
	hraft.Transport
	hraft.WithPreVote
	hraft.WithClose
}

// pacedTransport is the transport hashicorp/raft sends through. A
// follower that refuses an append because it could not store it (a full
// disk, a failing fsync) is sent the entries again after a fixed pace,
// instead of after hashicorp/raft's exponential backoff, which doubles
// with every refusal up to 10 s: a follower whose disk was full for ten
// seconds caught up, and could prove its reads fresh again, only about 8 s
// after space returned (Jepsen lifecycle/disk-full, seed 18242).
//
// Such a refusal is an answer in the leader's term, with entries sent,
// that failed without hashicorp/raft's NoRetryBackoff: a follower sets
// that on the refusals a retry at once repairs (a log mismatch, a missing
// previous entry), and a newer term ends the leadership instead.
type pacedTransport struct {
	fullTransport
	pace  time.Duration
	sleep func(time.Duration)
}

func (t *pacedTransport) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	err := t.fullTransport.AppendEntries(id, target, args, resp)
	if err == nil && !resp.Success && !resp.NoRetryBackoff && resp.Term == args.Term && len(args.Entries) > 0 {
		resp.NoRetryBackoff = true // the pace below replaces the backoff
		t.sleep(t.pace)
	}
	return err
}
