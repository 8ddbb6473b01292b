package fsm

import (
	"context"
	"errors"
	"fmt"
)

// Log is the replicated log a command is proposed to: raft.Node on the
// leader, cluster.Cluster anywhere (it forwards to the leader). Apply
// returns the state machine's response, a *Result, and the index at which
// the entry applied.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (resp any, index uint64, err error)
}

// ErrUnexpectedResponse is returned by [Apply] when the log answers with
// something other than a *Result.
var ErrUnexpectedResponse = errors.New("fsm: unexpected apply response")

// Apply is the one write path of the services: it encodes c, proposes it
// to log and returns its result and the index at which it applied.
//
// A command the state machine refused returns its *Rejection as the error,
// with the index: the refusal is in the log too, and a read that must see
// the write's effects waits for it all the same. Each service translates
// rejections into its own errors. An error of the log is returned as it
// is (raft.ErrNotLeader, raft.ErrUnknownOutcome and the context's errors
// mean different things to a caller). An invalid command is an
// ErrMalformedCommand and a response that is not a *Result an
// ErrUnexpectedResponse; neither panics.
func Apply(ctx context.Context, log Log, c Command) (*Result, uint64, error) {
	b, err := Encode(c)
	if err != nil {
		return nil, 0, err
	}
	resp, idx, err := log.Apply(ctx, b)
	if err != nil {
		return nil, 0, err
	}
	r, ok := resp.(*Result)
	if !ok || r == nil {
		return nil, idx, fmt.Errorf("%w %T to %s", ErrUnexpectedResponse, resp, c.Op())
	}
	if r.Err != nil {
		return nil, idx, r.Err
	}
	return r, idx, nil
}
