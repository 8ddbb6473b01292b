package nemesis

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec string
		want []string
		err  bool
	}{
		{"partition", []string{PartitionLeader, PartitionHalves, PartitionFollower}, false},
		{"kill,pause-leader,kill-one", []string{KillOne, KillLeader, KillMajority, PauseLeader}, false},
		{"none", nil, false},
		{"kill", []string{KillOne, KillLeader, KillMajority}, false},
		{"partition-majorities", []string{PartitionRing, PartitionBridge}, false},
		{"partition-ring,partition-bridge,kill-majority", []string{PartitionRing, PartitionBridge, KillMajority}, false},
		{"kill,wipe", []string{KillOne, KillLeader, KillMajority, Wipe}, false},
		{"partition,bogus", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %v, %v; want %v (error %v)", tt.spec, got, err, tt.want, tt.err)
			}
		})
	}
}

// fake records what the nemesis does to a 5-node cluster led by node 2.
type fake struct {
	mu    sync.Mutex
	calls []string
	cuts  map[int][]int
}

func (f *fake) log(s string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(s, args...))
	f.mu.Unlock()
}
func (f *fake) Size() int                              { return 5 }
func (f *fake) NodeID(i int) string                    { return fmt.Sprintf("n%d", i+1) }
func (f *fake) Leader(context.Context) (int, error)    { return 2, nil }
func (f *fake) Kill(i int) error                       { f.log("kill %d", i); return nil }
func (f *fake) Restart(_ context.Context, i int) error { f.log("restart %d", i); return nil }
func (f *fake) Pause(i int) error                      { f.log("pause %d", i); return nil }
func (f *fake) Resume(i int) error                     { f.log("resume %d", i); return nil }
func (f *fake) Wipe(_ context.Context, i int) error    { f.log("wipe %d", i); return nil }
func (f *fake) Rejoin(_ context.Context, i int) error  { f.log("rejoin %d", i); return nil }
func (f *fake) Heal(context.Context) error             { f.log("heal"); return nil }
func (f *fake) RotateDomainKey(context.Context) error  { f.log("rotate-domain-key"); return nil }
func (f *fake) Partition(_ context.Context, g map[int][]int) error {
	f.mu.Lock()
	f.cuts = g
	f.mu.Unlock()
	f.log("partition")
	return nil
}

func run(t *testing.T, faults []string, seed uint64) ([]string, map[int][]int) {
	t.Helper()
	f := &fake{}
	var clock int64
	n := New(f, f, faults, Schedule{Quiet: time.Millisecond, Hold: time.Millisecond}, seed,
		func() int64 { clock++; return clock }, func(string, ...any) {})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	events, err := n.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no faults in 50ms")
	}
	for _, ev := range events {
		if ev.End <= ev.Start || len(ev.Targets) == 0 {
			t.Fatalf("bad event %+v", ev)
		}
	}
	return f.calls, f.cuts
}

func TestFaultsAreHealed(t *testing.T) {
	tests := []struct {
		fault       string
		start, heal string
	}{
		{KillLeader, "kill 2", "restart 2"},
		{PauseLeader, "pause 2", "resume 2"},
		{PartitionLeader, "partition", "heal"},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			calls, cuts := run(t, []string{tt.fault}, 1)
			if calls[0] != tt.start || calls[1] != tt.heal {
				t.Fatalf("calls %v, want %q then %q", calls, tt.start, tt.heal)
			}
			if tt.fault == PartitionLeader {
				// The leader is cut from all four others, both ways.
				if !slices.Equal(cuts[2], []int{0, 1, 3, 4}) || !slices.Equal(cuts[0], []int{2}) {
					t.Fatalf("cuts %v", cuts)
				}
			}
		})
	}
}

func TestHalvesCutMinorityFromMajority(t *testing.T) {
	_, cuts := run(t, []string{PartitionHalves}, 7)
	minority := 0
	for a, bs := range cuts {
		if len(bs) == 3 {
			minority++
		} else if len(bs) != 2 {
			t.Fatalf("node %d cut from %v", a, bs)
		}
	}
	if minority != 2 {
		t.Fatalf("cuts %v: want a 2/3 split", cuts)
	}
}

func TestFollowerIsNotLeader(t *testing.T) {
	for _, fault := range []string{PauseFollower, Wipe} {
		t.Run(fault, func(t *testing.T) {
			for seed := uint64(0); seed < 20; seed++ {
				calls, _ := run(t, []string{fault}, seed)
				var verb string
				var i int
				if _, err := fmt.Sscanf(calls[0], "%s %d", &verb, &i); err != nil || i == 2 {
					t.Fatalf("seed %d: first call %q: want a follower (not 2)", seed, calls[0])
				}
			}
		})
	}
}

func TestWipedNodeRejoins(t *testing.T) {
	calls, _ := run(t, []string{Wipe}, 5)
	// Each wipe is healed by the same node's rejoin before the next fault.
	for k := 0; k+1 < len(calls); k += 2 {
		var w, r int
		if _, err := fmt.Sscanf(calls[k], "wipe %d", &w); err != nil {
			t.Fatalf("call %d is %q, want a wipe (calls %v)", k, calls[k], calls)
		}
		if _, err := fmt.Sscanf(calls[k+1], "rejoin %d", &r); err != nil || r != w {
			t.Fatalf("call %d is %q, want rejoin %d (calls %v)", k+1, calls[k+1], w, calls)
		}
	}
}

// leaderless is a cluster in which no node names a leader.
type leaderless struct{ fake }

func (l *leaderless) Leader(context.Context) (int, error) { return -1, errors.New("no leader") }

func TestWipeNeedsALeader(t *testing.T) {
	l := &leaderless{}
	n := New(l, l, []string{Wipe}, Schedule{Quiet: time.Millisecond, Hold: time.Millisecond}, 1,
		func() int64 { return 0 }, func(string, ...any) {})
	targets, err := n.start(context.Background(), Wipe)
	if err == nil || len(targets) != 0 {
		t.Fatalf("start = %v, %v; want an error and no target", targets, err)
	}
	if err := n.Heal(context.Background()); err != nil || len(l.calls) != 0 {
		t.Fatalf("heal = %v, calls %v; want nothing done", err, l.calls)
	}
}

func TestMajorityPartitions(t *testing.T) {
	_, ring := run(t, []string{PartitionRing}, 1)
	for a := 0; a < 5; a++ {
		want := []int{(a + 2) % 5, (a + 3) % 5}
		slices.Sort(want)
		if !slices.Equal(ring[a], want) {
			t.Errorf("ring: node %d cut from %v, want %v", a, ring[a], want)
		}
	}
	_, bridge := run(t, []string{PartitionBridge}, 1)
	want := map[int][]int{0: {3, 4}, 1: {3, 4}, 3: {0, 1}, 4: {0, 1}}
	if !reflect.DeepEqual(bridge, want) {
		t.Errorf("bridge cuts %v, want %v", bridge, want)
	}
}

func TestKillMajority(t *testing.T) {
	calls, _ := run(t, []string{KillMajority}, 3)
	killed, restarted := map[string]bool{}, map[string]bool{}
	for _, c := range calls[:6] { // three kills, then three restarts in any order
		var i int
		if _, err := fmt.Sscanf(c, "kill %d", &i); err == nil {
			killed[fmt.Sprint(i)] = true
		} else if _, err := fmt.Sscanf(c, "restart %d", &i); err == nil {
			restarted[fmt.Sprint(i)] = true
		}
	}
	if len(killed) != 3 || !reflect.DeepEqual(killed, restarted) {
		t.Fatalf("calls %v: want 3 distinct kills, then their restarts", calls)
	}
}
