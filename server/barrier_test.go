package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/trentkms/trent/raft"
)

// The start-up barrier is proposed again while leadership settles and
// when one proposal's own deadline ended before the start-up wait did;
// any other error, or the start-up wait's own end, stops the start.
func TestBarrierRetryable(t *testing.T) {
	t.Parallel()
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"not the leader", live, raft.ErrNotLeader, true},
		{"unknown outcome", live, fmt.Errorf("forward: %w", raft.ErrUnknownOutcome), true},
		{"a proposal's deadline, start-up wait alive", live, fmt.Errorf("wait applied: %w", context.DeadlineExceeded), true},
		{"a proposal's deadline, start-up wait over", ended, context.DeadlineExceeded, false},
		{"refused", live, errors.New("cluster: leader refused the write"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := barrierRetryable(tt.ctx, tt.err); got != tt.want {
				t.Errorf("barrierRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
