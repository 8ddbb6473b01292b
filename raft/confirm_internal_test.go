package raft

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// countFSM is a state machine that only counts entries.
type countFSM struct{ n atomic.Uint64 }

func (f *countFSM) Apply(*hraft.Log) any                 { f.n.Add(1); return nil }
func (f *countFSM) Snapshot() (hraft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (f *countFSM) Restore(r io.ReadCloser) error        { return r.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(s hraft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                           {}

// holdingTransport is the leader's transport. Once armed it holds the
// next AppendEntries to one peer *after* that peer answered it: the
// answer reaches raft only when the test releases it, as the answer to a
// heartbeat does when the leader's process was stopped (SIGSTOP) right
// after sending it. It also counts the AppendEntries sent to another peer,
// so that the test can release the held answer after the leader has begun
// a confirmation (each confirmation sends to every peer).
type holdingTransport struct {
	*hraft.InmemTransport
	held, counted hraft.ServerID

	mu       sync.Mutex
	armed    bool
	captured chan struct{} // closed once an answer is held
	release  chan struct{} // closed to let it through
	once     sync.Once
	sends    atomic.Int64 // AppendEntries to counted
	// releaseAt, once set, releases the held answer when sends reaches it.
	releaseAt atomic.Int64
}

// let releases the held answer (once).
func (t *holdingTransport) let() { t.once.Do(func() { close(t.release) }) }

func (t *holdingTransport) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	if id == t.counted {
		if at := t.releaseAt.Load(); t.sends.Add(1) >= at && at > 0 {
			t.let()
		}
	}
	err := t.InmemTransport.AppendEntries(id, target, args, resp)
	t.mu.Lock()
	hold := t.armed && id == t.held && err == nil && resp.Success
	if hold {
		t.armed = false
		close(t.captured)
	}
	t.mu.Unlock()
	if hold {
		<-t.release
	}
	return err
}

// AppendEntriesPipeline is refused, so that every AppendEntries goes
// through AppendEntries above (and as unpipelined's is).
func (t *holdingTransport) AppendEntriesPipeline(hraft.ServerID, hraft.ServerAddress) (hraft.AppendPipeline, error) {
	return nil, hraft.ErrPipelineReplicationNotSupported
}

// unpipelined is an in-memory transport without pipelined replication,
// as the node's network transport is (see transportConfig): hashicorp/raft's
// pipeline can wedge a leader's replication on a refused append over
// the in-memory transport as over TCP, and a wedged leader hangs the test
// that waits on it.
type unpipelined struct{ *hraft.InmemTransport }

func (unpipelined) AppendEntriesPipeline(hraft.ServerID, hraft.ServerAddress) (hraft.AppendPipeline, error) {
	return nil, hraft.ErrPipelineReplicationNotSupported
}

// outcomeWithin is how long a test waits for a raft outcome (an election,
// a commit) before failing: far longer than any takes on a loaded machine,
// far shorter than the package's test timeout.
const outcomeWithin = 20 * time.Second

// settle waits for f's outcome, at most outcomeWithin. hashicorp/raft's
// futures wait without bound (an Apply's timeout bounds only its enqueue).
func settle(f hraft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-time.After(outcomeWithin):
		return fmt.Errorf("no outcome within %v", outcomeWithin)
	}
}

// awaitLeader waits until r leads, at most outcomeWithin.
func awaitLeader(t *testing.T, r *hraft.Raft) {
	t.Helper()
	timeout := time.After(outcomeWithin)
	for {
		select {
		case up := <-r.LeaderCh():
			if up {
				return
			}
		case <-timeout:
			t.Fatalf("no leadership within %v", outcomeWithin)
		}
	}
}

// meshOf3 returns in-memory transports at addresses a1, a2 and a3, each
// connected to the two others.
func meshOf3() (a1, a2, a3 *hraft.InmemTransport) {
	_, a1 = hraft.NewInmemTransport("a1")
	_, a2 = hraft.NewInmemTransport("a2")
	_, a3 = hraft.NewInmemTransport("a3")
	for _, p := range [][2]*hraft.InmemTransport{{a1, a2}, {a1, a3}, {a2, a3}} {
		p[0].Connect(p[1].LocalAddr(), p[1])
		p[1].Connect(p[0].LocalAddr(), p[0])
	}
	return a1, a2, a3
}

func newTestRaft(t *testing.T, id string, trans hraft.Transport, heartbeat time.Duration) *hraft.Raft {
	t.Helper()
	return newTestRaftOn(t, id, trans, heartbeat, hraft.NewInmemStore())
}

// newTestRaftOn is newTestRaft with its log in logs.
func newTestRaftOn(t *testing.T, id string, trans hraft.Transport, heartbeat time.Duration, logs hraft.LogStore) *hraft.Raft {
	t.Helper()
	conf := hraft.DefaultConfig()
	conf.LocalID = hraft.ServerID(id)
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = heartbeat, heartbeat, heartbeat
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	r, err := hraft.NewRaft(conf, &countFSM{}, logs, hraft.NewInmemStore(), hraft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A shutdown waits for every raft goroutine: one wedged (the bug
		// TestARefusedAppendDoesNotWedgeReplication guards against) must
		// fail the test, not hang the package.
		done := make(chan struct{})
		go func() { _ = r.Shutdown().Error(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not shut down within 20s: a raft goroutine is stuck", id)
		}
	})
	return r
}

// TestConfirmIgnoresAnswersSentBefore: a leader that is cut off while a
// follower's answer to its heartbeat is on its way, and learns of it only
// after the other two elected a new leader that acknowledged a write, must
// not confirm its leadership with that answer. hashicorp/raft's
// VerifyLeader does (the first subtest shows it, so that the second
// proves something); confirmLeadership does not.
func TestConfirmIgnoresAnswersSentBefore(t *testing.T) {
	for _, tc := range []struct {
		name      string
		confirm   func(r *hraft.Raft, trans hraft.Transport) (uint64, error)
		wantStale bool
	}{
		{"VerifyLeader counts the old answer", func(r *hraft.Raft, _ hraft.Transport) (uint64, error) {
			idx := r.CommitIndex()
			return idx, r.VerifyLeader().Error()
		}, true},
		{"confirmLeadership does not", func(r *hraft.Raft, trans hraft.Transport) (uint64, error) {
			return confirmLeadership(r, &termProbe{trans: trans, id: "n1", addr: "a1", timeout: time.Second}, r.CurrentTerm())
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale := confirmAfterAnElection(t, tc.confirm)
			if stale != tc.wantStale {
				t.Fatalf("confirmed a read index from before the new leader's write: %v, want %v", stale, tc.wantStale)
			}
		})
	}
}

// confirmAfterAnElection builds the scenario and reports whether confirm
// returned, without error, an index below the new leader's write.
func confirmAfterAnElection(t *testing.T, confirm func(r *hraft.Raft, trans hraft.Transport) (uint64, error)) bool {
	t.Helper()
	a1, a2, a3 := meshOf3()
	lt := &holdingTransport{InmemTransport: a1, held: "n2", counted: "n3",
		captured: make(chan struct{}), release: make(chan struct{})}
	// The old leader's lease (4 s) outlasts the followers' election
	// (within 1 s of their last heartbeat), as a stopped process's does:
	// it does not step down before the test is over. Its heartbeats, at
	// most 400 ms apart, keep the followers from electing before. Its long
	// timeouts would make its own first election slow, so n2 forms the
	// cluster and hands it the lead.
	leader := newTestRaft(t, "n1", lt, 4*time.Second)
	n2, n3 := newTestRaft(t, "n2", unpipelined{a2}, 500*time.Millisecond), newTestRaft(t, "n3", unpipelined{a3}, 500*time.Millisecond)
	handLeadTo(t, leader, n2, n3)
	// Cleanups run last first: the held answer is let through before the
	// rafts shut down (a shutdown waits for the goroutine it holds).
	t.Cleanup(lt.let)

	// n2 answers an AppendEntries; its answer is held. Then the leader is
	// cut off from both.
	lt.mu.Lock()
	lt.armed = true
	lt.mu.Unlock()
	select {
	case <-lt.captured:
	case <-time.After(outcomeWithin):
		t.Fatalf("n2 answered no AppendEntries within %v", outcomeWithin)
	}
	a1.DisconnectAll()
	a2.Disconnect("a1")
	a3.Disconnect("a1")

	// n2 and n3 elect a leader, which acknowledges a write.
	next := nextLeader(t, n2, n3)
	w := next.Apply([]byte("write"), 0)
	if err := settle(w); err != nil {
		t.Fatal(err)
	}
	if leader.State() != hraft.Leader {
		t.Fatal("the old leader stepped down early; the scenario needs it to believe it leads")
	}

	// The old leader confirms; once it has sent to n3 twice more (so the
	// confirmation began), n2's old answer arrives.
	lt.releaseAt.Store(lt.sends.Load() + 2)
	type outcome struct {
		idx uint64
		err error
	}
	done := make(chan outcome, 1)
	go func() { idx, err := confirm(leader, lt); done <- outcome{idx, err} }()
	select {
	case o := <-done:
		return o.err == nil && o.idx < w.Index()
	case <-lt.release:
	}
	// The old answer has arrived. A confirmation that counts it returns at
	// once; one that does not waits for answers that cannot come, until
	// the old leader's lease ends (then it fails). Give it a moment.
	select {
	case o := <-done:
		return o.err == nil && o.idx < w.Index()
	case <-time.After(2 * time.Second):
		return false
	}
}

// handLeadTo forms a cluster of n2 (at address a2), then n1 (a1) and n3
// (a3), on n2, whose short timeouts elect it at once, and hands the lead
// to n1, whose long timeouts would make its own first election slow.
func handLeadTo(t *testing.T, n1, n2, n3 *hraft.Raft) {
	t.Helper()
	if err := settle(n2.BootstrapCluster(hraft.Configuration{Servers: []hraft.Server{{ID: "n2", Address: "a2"}}})); err != nil {
		t.Fatal(err)
	}
	awaitLeader(t, n2)
	// n2 can lose its lease while adding a voter (a loaded machine); then
	// whoever is elected adds the rest (adding a voter twice changes
	// nothing).
	waitFor(t, "n1 and n3 are voters", func() bool {
		for _, r := range []*hraft.Raft{n2, n3, n1} {
			if r.State() != hraft.Leader {
				continue
			}
			for id, addr := range map[hraft.ServerID]hraft.ServerAddress{"n1": "a1", "n3": "a3"} {
				if settle(r.AddVoter(id, addr, 0, 0)) != nil {
					return false
				}
			}
			return true
		}
		return false
	})
	// A transfer times out when n1 is not elected within n2's election
	// timeout (a loaded machine): then whoever leads hands it on again.
	waitFor(t, "n1 leads", func() bool {
		if n1.State() == hraft.Leader {
			return true
		}
		for _, r := range []*hraft.Raft{n2, n3} {
			if r.State() == hraft.Leader {
				_ = settle(r.LeadershipTransferToServer("n1", "a1"))
			}
		}
		return n1.State() == hraft.Leader
	})
	if err := settle(n1.Barrier(0)); err != nil {
		t.Fatal(err)
	}
}

// nextLeader returns whichever of a and b becomes leader first, within
// outcomeWithin.
func nextLeader(t *testing.T, a, b *hraft.Raft) *hraft.Raft {
	t.Helper()
	timeout := time.After(outcomeWithin)
	for {
		select {
		case <-timeout:
			t.Fatalf("neither led within %v", outcomeWithin)
		case up := <-a.LeaderCh():
			if up {
				return a
			}
		case up := <-b.LeaderCh():
			if up {
				return b
			}
		}
	}
}

// A confirmation for a term that moved on (the node stepped down and
// led again meanwhile) is refused: another leader may have acknowledged
// writes in between.
func TestConfirmRefusesATermThatMovedOn(t *testing.T) {
	_, a1 := hraft.NewInmemTransport("a1")
	r := newTestRaft(t, "n1", unpipelined{a1}, 50*time.Millisecond)
	if err := settle(r.BootstrapCluster(hraft.Configuration{Servers: []hraft.Server{{ID: "n1", Address: "a1"}}})); err != nil {
		t.Fatal(err)
	}
	awaitLeader(t, r)
	h := &termProbe{trans: a1, id: "n1", addr: "a1", timeout: time.Second}
	if _, err := confirmLeadership(r, h, r.CurrentTerm()); err != nil {
		t.Fatalf("in the current term: %v", err)
	}
	if _, err := confirmLeadership(r, h, r.CurrentTerm()-1); err == nil {
		t.Fatal("confirmed for a term that moved on")
	}
}

// probeTransport is the leader's transport in TestTermProbes: it checks
// that every probe stays off the heartbeat fast path and changes no log,
// counts the probes to one peer, and can hold them until released.
type probeTransport struct {
	*hraft.InmemTransport
	t       *testing.T
	watched hraft.ServerID
	sends   atomic.Int64
	hold    atomic.Bool
	release chan struct{}
}

func (p *probeTransport) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	if args.PrevLogEntry == 0 || len(args.Entries) > 0 || args.LeaderCommitIndex != 0 {
		p.t.Errorf("a probe with previous entry %d, %d entries, commit index %d: want a previous entry, no entries, no commit index",
			args.PrevLogEntry, len(args.Entries), args.LeaderCommitIndex)
	}
	if id == p.watched {
		p.sends.Add(1)
		if p.hold.Load() {
			<-p.release
		}
	}
	return p.InmemTransport.AppendEntries(id, target, args, resp)
}

// A probe round counts only answers in its term from a quorum: it
// confirms with all followers or one of two reachable, and is refused
// with none reachable or when the followers are in a newer term. A peer
// that has not answered the last probe is not sent another.
func TestTermProbes(t *testing.T) {
	a1, a2, a3 := meshOf3()
	// n1 leads: it is elected first, and its heartbeats keep the others
	// from standing while the test runs.
	leader := newTestRaft(t, "n1", unpipelined{a1}, 500*time.Millisecond)
	newTestRaft(t, "n2", unpipelined{a2}, 5*time.Second)
	newTestRaft(t, "n3", unpipelined{a3}, 5*time.Second)
	servers := []hraft.Server{{ID: "n1", Address: "a1"}, {ID: "n2", Address: "a2"}, {ID: "n3", Address: "a3"}}
	if err := settle(leader.BootstrapCluster(hraft.Configuration{Servers: servers})); err != nil {
		t.Fatal(err)
	}
	awaitLeader(t, leader)
	tr := &probeTransport{InmemTransport: a1, t: t, watched: "n3", release: make(chan struct{})}
	h := &termProbe{trans: tr, id: "n1", addr: "a1", timeout: time.Second}
	term, idx := leader.CurrentTerm(), leader.CommitIndex()

	if err := h.quorum(leader, term, idx); err != nil {
		t.Fatalf("all reachable: %v", err)
	}
	if err := h.quorum(leader, term-1, idx); !errors.Is(err, hraft.ErrLeadershipLost) {
		t.Fatalf("followers in a newer term: %v, want ErrLeadershipLost", err)
	}

	// n3 stops answering: n2 is enough, and n3 is asked only until it has
	// maxProbesInFlight unanswered, not once a round.
	idle := func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.busy) == 0 }
	waitFor(t, "the answers of the rounds above", idle)
	tr.hold.Store(true)
	before := tr.sends.Load()
	for range 4 {
		if err := h.quorum(leader, term, idx); err != nil {
			t.Fatalf("n3 silent, n2 answering: %v", err)
		}
	}
	h.mu.Lock()
	inFlight := h.busy["n3"]
	h.mu.Unlock()
	if inFlight != maxProbesInFlight {
		t.Fatalf("%d probes sent over 4 rounds to a peer that answered none, want %d", inFlight, maxProbesInFlight)
	}
	// They reach the transport (and are held there) when their goroutines
	// run, which may be after the rounds returned on n2's answers.
	waitFor(t, "n3's probes reach the transport", func() bool { return tr.sends.Load()-before == maxProbesInFlight })
	tr.hold.Store(false)
	close(tr.release)
	waitFor(t, "n3's probes answered", idle)

	a1.Disconnect("a3")
	if err := h.quorum(leader, term, idx); err != nil {
		t.Fatalf("one of two followers reachable: %v", err)
	}
	a1.Disconnect("a2")
	if err := h.quorum(leader, term, idx); !errors.Is(err, errNoQuorum) {
		t.Fatalf("no follower reachable: %v, want errNoQuorum", err)
	}
}
