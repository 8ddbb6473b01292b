package server

import (
	"io"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/propagation"
	"github.com/trentkms/trent/raft"
)

// stateMachine is the FSM as raft's StateMachine. Neither package knows
// the other (fsm stays free of consensus, raft of Trent's state), so the
// composition root joins them: entries and snapshots pass through as
// they are.
type stateMachine struct {
	f *fsm.FSM
	// lag, if set, is told of every batch applied and every restore, for
	// the delayed view of a simulated propagation delay.
	lag *propagation.Lag
	// snapshots, if set, counts the snapshots taken and restored.
	snapshots interface {
		SnapshotTaken()
		SnapshotRestored()
	}
}

func (m stateMachine) ApplyBatch(entries []raft.Entry) []any {
	es := make([]fsm.Entry, len(entries))
	for i, e := range entries {
		es[i] = fsm.Entry{Index: e.Index, Data: e.Data, Membership: e.Configuration}
	}
	out := m.f.ApplyBatch(es)
	if m.lag != nil {
		m.lag.Feed(es)
	}
	return out
}

func (m stateMachine) Snapshot() (raft.Snapshot, error) {
	s, err := m.f.Snapshot()
	if err != nil {
		return nil, err // not a nil *fsm.Snapshot in the interface
	}
	if m.snapshots != nil {
		m.snapshots.SnapshotTaken()
	}
	return s, nil
}

func (m stateMachine) Restore(r io.Reader) error {
	err := m.f.Restore(r)
	if err == nil && m.lag != nil {
		m.lag.Reset()
	}
	if err == nil && m.snapshots != nil {
		m.snapshots.SnapshotRestored()
	}
	return err
}
