package nemesis

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// diskFake is the fake cluster with disk faults; its nodes reach every
// crash point at once.
type diskFake struct{ fake }

func (f *diskFake) Fill(i int) error { f.log("fill %d", i); return nil }
func (f *diskFake) Free(i int) error { f.log("free %d", i); return nil }
func (f *diskFake) SetFailpoints(i int, spec string) error {
	f.log("failpoints %d %s", i, strings.ReplaceAll(spec, "\n", ";"))
	return nil
}
func (f *diskFake) WaitExit(int, time.Duration) bool { return true }
func (f *diskFake) JoinCrashing(_ context.Context, i int) error {
	f.log("join-crashing %d", i)
	return nil
}

func TestDiskFaults(t *testing.T) {
	for _, tc := range []struct {
		fault string
		// each fault interval must show these calls, in this order
		want []string
	}{
		{DiskFull, []string{"fill ", "free ", "restart "}},
		{FsyncFail, []string{"failpoints ", "failpoints ", "restart "}},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			f := &diskFake{}
			n := New(f, f, []string{tc.fault}, Schedule{Quiet: time.Millisecond, Hold: time.Millisecond}, 1,
				func() int64 { return 0 }, func(string, ...any) {})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := n.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if len(f.calls) < len(tc.want) {
				t.Fatalf("calls %v", f.calls)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(f.calls[i], w) {
					t.Fatalf("call %d is %q, want %q...; calls %v", i, f.calls[i], w, f.calls)
				}
			}
			if tc.fault == FsyncFail && !strings.HasSuffix(f.calls[0], " "+strings.ReplaceAll(FsyncFailSpec, "\n", ";")) {
				t.Fatalf("fsync-fail set %q", f.calls[0])
			}
		})
	}
}

// crash-points takes every point in turn, clears a node's points before
// it restarts, and crashes hsm-state-write in a wiped node's join.
func TestCrashPointsInTurn(t *testing.T) {
	f := &diskFake{}
	var events []string
	n := New(f, f, []string{CrashPoints}, Schedule{Quiet: time.Millisecond, Hold: time.Millisecond}, 1,
		func() int64 { return 0 }, func(string, ...any) {})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for len(events) < len(crashPoints) {
		targets, err := n.start(ctx, CrashPoints)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, n.disk.event)
		if err := n.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		if n.disk.event == CrashPoints+":lifecycle-propose" && targets[0] != 2 {
			t.Fatalf("lifecycle-propose on %v, not the leader", targets)
		}
	}
	for i, p := range CrashPointNames() {
		if events[i] != CrashPoints+":"+p {
			t.Fatalf("event %d is %q, want the point %s", i, events[i], p)
		}
	}
	// Every crash is followed by clearing the node's points, then its
	// restart (or, after the join crash, its rejoin); snapshot-install's
	// own restart, which crashes, comes before.
	for i, c := range f.calls {
		if strings.HasSuffix(c, "=crash") {
			node := strings.Fields(c)[1]
			rest := f.calls[i+1:]
			clear := slices.Index(rest, "failpoints "+node+" ")
			if clear < 0 {
				t.Fatalf("after %q the points are never cleared: %v", c, rest)
			}
			back := slices.IndexFunc(rest[clear:], func(s string) bool { return s == "restart "+node || s == "rejoin "+node })
			if back < 0 {
				t.Fatalf("after %q: calls %v", c, rest)
			}
		}
	}
	if !slices.ContainsFunc(f.calls, func(s string) bool { return strings.HasPrefix(s, "join-crashing ") }) {
		t.Fatalf("hsm-state-write did not crash a join: %v", f.calls)
	}
}
