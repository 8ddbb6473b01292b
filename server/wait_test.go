package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trentkms/trent/server"
)

// Waits in these tests follow the state, not the clock. waitApplied blocks
// on the FSM's applied-index notification (Server.WaitApplied); waitFor
// re-checks a condition as soon as a node applies an entry, and polls only
// for state that no apply announces (gossip, compaction, files written
// after a response).

// waitPoll bounds how long waitFor goes without re-checking its condition.
const waitPoll = 10 * time.Millisecond

// waitApplied waits until every node has applied idx, failing the test
// after timeout.
func waitApplied(t testing.TB, timeout time.Duration, idx uint64, nodes ...*server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i, n := range nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatalf("node %d (%s) did not apply index %d within %v: applied %d", i, n.APIAddr(), idx, timeout, n.AppliedIndex())
		}
	}
}

// errNotYet is what a waitFor condition built from a bool returns.
var errNotYet = errors.New("not yet")

// waitFor calls cond until it returns nil, and fails the test with what
// and cond's last error after timeout. It calls cond again as soon as one
// of nodes applies an entry, and at the latest after waitPoll: with no
// nodes it is a bounded poll.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() error, nodes ...*server.Server) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		nextApply(nodes, min(waitPoll, left))
	}
}

// nextApply returns when one of nodes applies an entry past its current
// index, or after d.
func nextApply(nodes []*server.Server, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, n := range nodes {
		next := n.AppliedIndex() + 1
		go func() {
			if n.WaitApplied(ctx, next) == nil {
				cancel()
			}
		}()
	}
	<-ctx.Done()
}

// holds adapts a bool condition to waitFor.
func holds(cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}
}

// onNode names node i in a wait's description.
func onNode(what string, i int) string { return fmt.Sprintf("%s on node %d", what, i) }
