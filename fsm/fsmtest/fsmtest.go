// Package fsmtest gives tests of the packages that propose commands (kms,
// iam, awsapi) a raft log without raft: Log applies each command straight
// to an FSM, as a one-node cluster would, and reports its index.
//
// Only tests import it (deptest holds that).
package fsmtest

import (
	"context"
	"sync"

	"github.com/trentkms/trent/fsm"
)

// Log is an in-memory raft log over one FSM. It is safe for concurrent
// use.
type Log struct {
	mu  sync.Mutex
	f   *fsm.FSM
	idx uint64
}

// NewLog returns a log that applies to f.
func NewLog(f *fsm.FSM) *Log { return &Log{f: f} }

// Apply applies cmd at the next index and returns the FSM's result and
// that index. The next index follows both this log's last entry and
// whatever f has applied, so two logs over one FSM never reuse an index.
func (l *Log) Apply(_ context.Context, cmd []byte) (any, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idx = max(l.idx, l.f.AppliedIndex()) + 1
	return l.f.Apply(fsm.Entry{Index: l.idx, Data: cmd}), l.idx, nil
}

// ReadIndex returns the index everything committed has reached: with one
// node applying synchronously, everything committed is applied.
func (l *Log) ReadIndex(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.idx, l.f.AppliedIndex()), nil
}
