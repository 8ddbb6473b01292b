package raft

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/trentkms/trent/fsm"
)

// answeringTransport answers every AppendEntries with resp, or fails
// with err.
type answeringTransport struct {
	unpipelined
	resp hraft.AppendEntriesResponse
	err  error
}

func (a *answeringTransport) AppendEntries(_ hraft.ServerID, _ hraft.ServerAddress, _ *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	*resp = a.resp
	return a.err
}

// Only a follower's refusal to store entries it was sent, in the
// leader's term, is paced; hashicorp/raft's handling of every other
// answer is left as it is.
func TestPacedTransportPacesOnlyStoreRefusals(t *testing.T) {
	entries := []*hraft.Log{{Index: 8, Term: 3}}
	for _, tc := range []struct {
		name    string
		entries []*hraft.Log
		resp    hraft.AppendEntriesResponse
		err     error
		paced   bool
	}{
		{"a store refusal", entries, hraft.AppendEntriesResponse{Term: 3, LastLog: 7}, nil, true},
		{"stored", entries, hraft.AppendEntriesResponse{Term: 3, LastLog: 8, Success: true}, nil, false},
		{"a log mismatch (retried at once already)", entries, hraft.AppendEntriesResponse{Term: 3, LastLog: 5, NoRetryBackoff: true}, nil, false},
		{"a newer term", entries, hraft.AppendEntriesResponse{Term: 4}, nil, false},
		{"a refused heartbeat", nil, hraft.AppendEntriesResponse{Term: 3}, nil, false},
		{"no answer", entries, hraft.AppendEntriesResponse{}, errors.New("connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var slept time.Duration
			p := &pacedTransport{fullTransport: &answeringTransport{resp: tc.resp, err: tc.err},
				pace: storeRetryPace, sleep: func(d time.Duration) { slept += d }}
			var resp hraft.AppendEntriesResponse
			err := p.AppendEntries("n2", "a2", &hraft.AppendEntriesRequest{Term: 3, PrevLogEntry: 7, Entries: tc.entries}, &resp)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			want := tc.resp
			if tc.paced {
				want.NoRetryBackoff = true
			}
			if !reflect.DeepEqual(resp, want) {
				t.Fatalf("answer %+v, want %+v", resp, want)
			}
			if paced := slept > 0; paced != tc.paced || (tc.paced && slept != storeRetryPace) {
				t.Fatalf("slept %v, paced %v; want paced %v", slept, paced, tc.paced)
			}
		})
	}
}

// countdownStore refuses the next fails appends, then stores again, as a
// disk that fills and is freed does.
type countdownStore struct {
	hraft.LogStore
	fails atomic.Int64
}

func (s *countdownStore) StoreLogs(logs []*hraft.Log) error {
	if s.fails.Add(-1) >= 0 {
		return errDiskFull
	}
	return s.LogStore.StoreLogs(logs)
}

func (s *countdownStore) StoreLog(l *hraft.Log) error { return s.StoreLogs([]*hraft.Log{l}) }

// A follower that refused 16 appends catches up about 16 paces after
// its first refusal. Under hashicorp/raft's own backoff the 12th and
// later retries wait 10 s each, about a minute in all: the wait below
// (20 s) ends first.
func TestAFollowerThatCouldNotStoreCatchesUpAtThePace(t *testing.T) {
	a1, a2, a3 := meshOf3()
	disk := &countdownStore{LogStore: hraft.NewInmemStore()}
	leader := newTestRaft(t, "n1", &pacedTransport{fullTransport: unpipelined{a1}, pace: storeRetryPace, sleep: time.Sleep}, 500*time.Millisecond)
	newTestRaft(t, "n2", unpipelined{a2}, 5*time.Second)
	n3 := newTestRaftOn(t, "n3", unpipelined{a3}, 5*time.Second, disk)
	servers := []hraft.Server{{ID: "n1", Address: "a1"}, {ID: "n2", Address: "a2"}, {ID: "n3", Address: "a3"}}
	if err := settle(leader.BootstrapCluster(hraft.Configuration{Servers: servers})); err != nil {
		t.Fatal(err)
	}
	awaitLeader(t, leader)
	waitFor(t, "n3 has the configuration", func() bool { return n3.AppliedIndex() >= leader.AppliedIndex() })

	disk.fails.Store(16)
	w := leader.Apply([]byte("w"), 0)
	if err := settle(w); err != nil { // n1 and n2 commit it
		t.Fatal(err)
	}
	waitFor(t, "n3 catches up", func() bool { return n3.AppliedIndex() >= w.Index() })
	if left := disk.fails.Load(); left > 0 {
		t.Fatalf("n3 caught up with %d refusals left: the test proves nothing", left)
	}
}

// The same through Open, which builds the transport hashicorp/raft sends
// through: three nodes on their TLS transports, one of whose disks
// refuses 16 appends. It catches up in about 16 paces; if Open did not
// pace the refusals, hashicorp/raft's backoff would take about a minute,
// past the 20 s this waits.
func TestOpenPacesAFollowerThatCouldNotStore(t *testing.T) {
	disk := &countdownStore{}
	open := func(id string, f *fsm.FSM, bootstrap bool, wrap func(hraft.LogStore) hraft.LogStore) *Node {
		n, err := Open(Config{NodeID: id, Dir: t.TempDir(), BindAddr: "127.0.0.1:0", FSM: fsmMachine{f}, Bootstrap: bootstrap,
			HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			LeaderLeaseTimeout: 250 * time.Millisecond, wrapLogs: wrap})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	f3 := fsm.New()
	n1 := open("n1", fsm.New(), true, nil)
	n2 := open("n2", fsm.New(), false, nil)
	n3 := open("n3", f3, false, func(l hraft.LogStore) hraft.LogStore { disk.LogStore = l; return disk })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := n1.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// A loaded machine may move the lead: a change whose outcome is
	// unknown is asked again of whoever leads (adding a voter twice, or
	// creating a key twice, changes nothing).
	viaLeader := func(do func(*Node) error) {
		t.Helper()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range []*Node{n1, n2, n3} {
				if !n.IsLeader() {
					continue
				}
				err := do(n)
				if err == nil {
					return
				}
				if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNotLeader) {
					t.Fatal(err)
				}
			}
			select {
			case <-ctx.Done():
				t.Fatal("no leader took the change")
			case <-tick.C:
			}
		}
	}
	write := func(key string) (idx uint64) {
		viaLeader(func(n *Node) (err error) { _, idx, err = n.Apply(ctx, createCmd(t, key)); return err })
		return idx
	}
	for _, n := range []*Node{n2, n3} {
		viaLeader(func(l *Node) error { return l.AddVoter(n.id, n.Addr()) })
	}
	if err := f3.WaitApplied(ctx, write("k0")); err != nil {
		t.Fatalf("n3 did not apply the first write: %v", err)
	}

	disk.fails.Store(16)
	idx := write("k1") // the other two commit it
	if err := f3.WaitApplied(ctx, idx); err != nil {
		t.Fatalf("n3 did not catch up within 20 s of refusing 16 appends (%d refusals left): %v", max(disk.fails.Load(), 0), err)
	}
	if left := disk.fails.Load(); left > 0 {
		t.Fatalf("n3 caught up with %d refusals left: the test proves nothing", left)
	}
}
