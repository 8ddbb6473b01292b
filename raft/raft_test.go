package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
)

// fsmMachine is the FSM as a StateMachine, as server joins them (this
// package does not import fsm, nor fsm this one).
type fsmMachine struct{ f *fsm.FSM }

func (m fsmMachine) ApplyBatch(entries []Entry) []any {
	es := make([]fsm.Entry, len(entries))
	for i, e := range entries {
		es[i] = fsm.Entry{Index: e.Index, Data: e.Data, Membership: e.Configuration}
	}
	return m.f.ApplyBatch(es)
}

func (m fsmMachine) Snapshot() (Snapshot, error) {
	s, err := m.f.Snapshot()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m fsmMachine) Restore(r io.Reader) error { return m.f.Restore(r) }

func openSingle(t *testing.T, dir string, f *fsm.FSM) *Node {
	t.Helper()
	n, err := Open(Config{
		NodeID: "n1", Dir: dir, BindAddr: "127.0.0.1:0", FSM: fsmMachine{f}, Bootstrap: true,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func createCmd(t *testing.T, id string) []byte {
	t.Helper()
	b, err := fsm.Encode(&fsm.CreateKey{Key: fsm.Key{
		ID: id, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + id, Account: "111122223333", State: fsm.Enabled,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apply proposes cmd on a node that WaitLeader has seen become leader.
func apply(t *testing.T, n *Node, cmd []byte) (*fsm.Result, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, idx, err := n.Apply(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*fsm.Result), idx
}

func TestApplyReturnsIndexAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	f := fsm.New()
	n := openSingle(t, dir, f)
	var last uint64
	for i := range 20 {
		r, idx := apply(t, n, createCmd(t, fmt.Sprintf("k%02d", i)))
		if r.Err != nil || r.Index != idx || idx <= last {
			t.Fatalf("result %+v at index %d after %d", r, idx, last)
		}
		last = idx
		if i == 9 {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same directory with an empty FSM: snapshot + log replay.
	g := fsm.New()
	n2 := openSingle(t, dir, g)
	defer n2.Close()
	_, idx := apply(t, n2, mustNoop(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if g.KeyCount() != 20 {
		t.Fatalf("after restart %d keys, want 20", g.KeyCount())
	}
}

func TestSecondOpenOfSameDirFails(t *testing.T) {
	dir := t.TempDir()
	n := openSingle(t, dir, fsm.New())
	defer n.Close()
	_, err := Open(Config{NodeID: "n1", Dir: dir, BindAddr: "127.0.0.1:0", FSM: fsmMachine{fsm.New()}})
	if !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("got %v, want ErrStoreLocked", err)
	}
}

// A failed Open releases what it acquired, whatever step failed: the
// listener it was given is closed, and the store's lock is released so
// that the next Open of the directory succeeds at once.
func TestFailedOpenReleasesWhatItAcquired(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"before the store", func(c *Config) { c.NodeID = "" }},
		{"stream", func(c *Config) { c.ServerTLS = &tls.Config{} }}, // without ClientTLS
		{"config", func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{NodeID: "n1", Dir: dir, Listener: ln, FSM: fsmMachine{fsm.New()}, Bootstrap: true,
				HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
				LeaderLeaseTimeout: 50 * time.Millisecond}
			tt.mutate(&cfg)
			if _, err := Open(cfg); err == nil {
				t.Fatal("Open succeeded")
			}
			again, err := net.Listen("tcp", ln.Addr().String())
			if err != nil {
				t.Fatalf("the listener is still open: %v", err)
			}
			again.Close()
			start := time.Now()
			n := openSingle(t, dir, fsm.New())
			n.Close()
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Fatalf("the next Open waited %v for the store's lock", d)
			}
		})
	}
}

func TestUnspecifiedBindNeedsAdvertise(t *testing.T) {
	_, err := Open(Config{NodeID: "n1", Dir: t.TempDir(), BindAddr: "0.0.0.0:0", FSM: fsmMachine{fsm.New()}})
	if err == nil {
		t.Fatal("want an error for 0.0.0.0 without an advertise address")
	}
}

func mustNoop(t *testing.T) []byte {
	b, err := fsm.Encode(&fsm.Noop{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A fresh leader's commit index points at its own no-op entry, which the
// FSM never sees; ReadIndex must name an index the FSM does reach, or a
// linearizable read on an idle cluster would wait for the next write.
func TestReadIndexIsReachableByTheFSMAfterAnElection(t *testing.T) {
	f := fsm.New()
	n := openSingle(t, t.TempDir(), f)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for { // the no-op commits just after the node becomes leader
		if _, err := n.ReadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if n.raft.CommitIndex() > 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the leader's no-op never committed")
		case <-time.After(time.Millisecond):
		}
	}
	idx, _ := n.ReadIndex(ctx)
	if idx == n.raft.CommitIndex() {
		t.Fatalf("read index %d is the commit index, which is raft's no-op", idx)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	if err := f.WaitApplied(wctx, idx); err != nil {
		t.Fatalf("the FSM never reached read index %d (applied %d): %v", idx, f.AppliedIndex(), err)
	}
	// After a command, the read index is that command's.
	_, cmdIdx := apply(t, n, mustNoop(t))
	if idx, err := n.ReadIndex(ctx); err != nil || idx != cmdIdx {
		t.Fatalf("read index after a command = %d, %v; want %d", idx, err, cmdIdx)
	}
}

// A new leader may not know its true commit index until it commits an
// entry of its own term (Raft thesis 6.4): its commit index is what the
// old leader last told it, which can lag writes the old leader already
// acknowledged. The first read index a new leader gives must still cover
// every acknowledged write. The test kills the leader while it writes
// and asks the new leader for a read index the moment it leads, over
// several rounds, to hit that window.
func TestReadIndexOfANewLeaderCoversAcknowledgedWrites(t *testing.T) {
	timing := Config{HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond,
		LeaderLeaseTimeout: 75 * time.Millisecond, CommitTimeout: 50 * time.Millisecond}
	open := func(id string, bootstrap bool) *Node {
		cfg := timing
		cfg.NodeID, cfg.Dir, cfg.BindAddr, cfg.FSM, cfg.Bootstrap = id, t.TempDir(), "127.0.0.1:0", fsmMachine{fsm.New()}, bootstrap
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := []*Node{open("n1", true), open("n2", false), open("n3", false)}
	if err := nodes[0].WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// leading returns a node that leads now, waiting for one.
	leading := func() *Node {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			for _, n := range nodes {
				if n.IsLeader() {
					return n
				}
			}
			<-tick.C // leave the cores to the elections
		}
		t.Fatal("no leader")
		return nil
	}
	leader := nodes[0]
	for i := 1; i < len(nodes); {
		// As for the writes below: a lost lease is asked again through
		// whoever leads (adding a voter twice changes nothing).
		err := leader.AddVoter(nodes[i].id, nodes[i].Addr())
		if errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNotLeader) {
			leader = leading()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		i++
	}
	// Each round: write on the leader, stop it right after an
	// acknowledgement, and ask whoever leads next, as soon as it does.
	for round := range 3 {
		var last uint64
		for i := 0; i < 20; {
			// A loaded machine can cost the leader its lease with these
			// short timeouts: a write whose outcome is unknown is not
			// acknowledged; write again through whoever leads.
			_, idx, err := leader.Apply(ctx, createCmd(t, fmt.Sprintf("r%d-k%d", round, i)))
			if errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNotLeader) {
				leader = leading()
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			last = idx
			i++
		}
		if err := leader.Close(); err != nil {
			t.Fatal(err)
		}
		// Whoever leads next answers a read index as soon as it leads;
		// on a loaded machine it may lose the lead again before it
		// answers, and then the one after it must.
		var next *Node
		for {
			next = nil
			for next == nil {
				if ctx.Err() != nil {
					t.Fatal("no new leader")
				}
				for _, n := range nodes {
					if n != leader && n.IsLeader() {
						next = n
					}
				}
			}
			idx, err := next.ReadIndex(ctx)
			if errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrNotLeader) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx < last {
				t.Fatalf("round %d: the new leader's first read index %d is below the acknowledged write at %d", round, idx, last)
			}
			break
		}
		// Bring the old leader back as a follower on a fresh directory.
		i := slices.Index(nodes, leader)
		changeMembership(t, ctx, nodes, leader, func(n *Node) error { return n.RemoveServer(leader.id) })
		nodes[i] = open(fmt.Sprintf("n%d-%d", i+1, round), false)
		changeMembership(t, ctx, nodes, nodes[i], func(n *Node) error { return n.AddVoter(nodes[i].id, nodes[i].Addr()) })
		leader = next
	}
}

// changeMembership runs change on whichever node of nodes but skip leads,
// again on the next leader when a loaded machine costs the lead before
// the change commits.
func changeMembership(t *testing.T, ctx context.Context, nodes []*Node, skip *Node, change func(*Node) error) {
	t.Helper()
	for ctx.Err() == nil {
		for _, n := range nodes {
			if n == skip || !n.IsLeader() {
				continue
			}
			err := change(n)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNotLeader) {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("no leader to change the membership")
}
