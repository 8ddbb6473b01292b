package raft

import (
	"io"

	hraft "github.com/hashicorp/raft"

	"github.com/trentkms/trent/failpoint"
)

// StateMachine is what a Node applies committed entries to (Trent's is
// package fsm's, which knows nothing of this package). Raft calls
// ApplyBatch, Snapshot and Restore from one goroutine; a Snapshot's
// Persist runs while ApplyBatch goes on.
type StateMachine interface {
	// ApplyBatch applies committed entries in log order, with no gaps, and
	// returns one response per entry, in the same order. A response is
	// what Node.Apply returns to the proposer of that entry.
	ApplyBatch(entries []Entry) []any
	// Snapshot captures the current state, quickly: writing it out is
	// Persist's work.
	Snapshot() (Snapshot, error)
	// Restore replaces the whole state with a snapshot written by Persist.
	Restore(r io.Reader) error
}

// Entry is a committed log entry: a command, or a change of the raft
// configuration. The state machine sees configuration changes only so
// that its applied index can follow the log.
type Entry struct {
	// Index is the entry's position in the log.
	Index uint64
	// Data is the command as it was proposed (Node.Apply's cmd); nil for
	// a configuration change.
	Data []byte
	// Configuration marks a change of the raft configuration.
	Configuration bool
}

// Snapshot is a state captured by StateMachine.Snapshot.
type Snapshot interface {
	// Persist writes the state to w. On an error the Node discards what
	// it wrote.
	Persist(w io.Writer) error
	// Release is called when the Node is done with the snapshot, whether
	// or not it was persisted.
	Release()
}

// machine is a StateMachine as hashicorp/raft's BatchingFSM. It also tells
// the stream when the configuration may have changed: after a committed
// configuration entry, and after a snapshot restore.
type machine struct {
	sm StateMachine
	s  *stream
}

var _ hraft.BatchingFSM = machine{}

// Apply applies one entry. hashicorp/raft calls ApplyBatch instead, as
// the state machine batches.
func (m machine) Apply(l *hraft.Log) any {
	return m.ApplyBatch([]*hraft.Log{l})[0]
}

// ApplyBatch passes the entries on as Entry values. hashicorp/raft sends
// only commands and configuration changes; anything but a command reaches
// the state machine as a configuration change, which only advances its
// applied index.
func (m machine) ApplyBatch(logs []*hraft.Log) []any {
	entries := make([]Entry, len(logs))
	changed := false
	for i, l := range logs {
		entries[i].Index = l.Index
		if l.Type == hraft.LogCommand {
			entries[i].Data = l.Data
		} else {
			entries[i].Configuration = true
		}
		changed = changed || l.Type == hraft.LogConfiguration
	}
	out := m.sm.ApplyBatch(entries)
	// Applied here, not yet answered; raft has not recorded it applied.
	_ = failpoint.Hit("fsm-apply")
	if changed {
		m.s.configurationChanged()
	}
	return out
}

func (m machine) Snapshot() (hraft.FSMSnapshot, error) {
	s, err := m.sm.Snapshot()
	if err != nil {
		return nil, err
	}
	return sinkSnapshot{s}, nil
}

// Restore restores the state machine from rc and closes it.
func (m machine) Restore(rc io.ReadCloser) error {
	// The snapshot is in the store, the state machine not yet rebuilt.
	_ = failpoint.Hit("snapshot-install")
	err := m.sm.Restore(rc)
	_ = rc.Close() // only read from; hashicorp/raft closes it again
	m.s.configurationChanged()
	return err
}

// sinkSnapshot is a Snapshot as hashicorp/raft's FSMSnapshot.
type sinkSnapshot struct{ s Snapshot }

// Persist writes the snapshot to sink and closes it, or cancels it on
// error, which makes the store discard it.
func (s sinkSnapshot) Persist(sink hraft.SnapshotSink) error {
	err := s.s.Persist(sink)
	if err == nil {
		// Written, not yet closed (made durable and listed).
		err = failpoint.Hit("snapshot-persist")
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s sinkSnapshot) Release() { s.s.Release() }
