package raft

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/trentkms/trent/fsm"
)

// After a restore the node commits a no-op command, so the state
// machine reports an index at or past the restored snapshot's: without
// it, a read index naming the snapshot (which the state machine never
// reports as applied when a write raced the restore) would hold readers
// until the next write.
func TestRestoreCommitsANoopAfterTheSnapshot(t *testing.T) {
	f := fsm.New()
	n, err := Open(Config{
		NodeID: "n1", Dir: t.TempDir(), BindAddr: "127.0.0.1:0", FSM: fsmMachine{f}, Bootstrap: true, Noop: mustNoop(t),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	apply(t, n, createCmd(t, "k0"))
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := s.Persist(&backup); err != nil {
		t.Fatal(err)
	}
	if err := n.Restore(func(applied uint64, w io.Writer) error {
		return s.Graft(bytes.NewReader(backup.Bytes()), applied, w)
	}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	last := n.raft.LastIndex()
	var l hraft.Log
	if err := n.store.GetLog(last, &l); err != nil {
		t.Fatal(err)
	}
	if l.Type != hraft.LogCommand || !bytes.Equal(l.Data, mustNoop(t)) {
		t.Fatalf("the last entry after the restore is %v %q, want the no-op command", l.Type, l.Data)
	}
	if got := f.AppliedIndex(); got < last-1 {
		t.Fatalf("the state machine reports %d, want at least the snapshot's index %d", got, last-1)
	}
}

// mapErr gives callers the wire's errors for hashicorp/raft's.
func TestMapErr(t *testing.T) {
	for _, tc := range []struct {
		in, want error
	}{
		{hraft.ErrNotLeader, ErrNotLeader},
		{hraft.ErrLeadershipLost, ErrUnknownOutcome},
		{hraft.ErrRaftShutdown, ErrShutdown},
		{hraft.ErrTransportShutdown, ErrShutdown},
		{hraft.ErrEnqueueTimeout, ErrUnknownOutcome},
	} {
		t.Run(tc.in.Error(), func(t *testing.T) {
			if got := mapErr(tc.in); !errors.Is(got, tc.want) {
				t.Fatalf("mapErr(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
