package nemesis

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/proxy"
)

// links records the shapes the nemesis sets, and heals.
type links struct {
	mu     sync.Mutex
	shapes []map[int][]int
	shape  proxy.Shape
	heals  int
}

func (l *links) Shape(_ context.Context, m map[int][]int, s proxy.Shape) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shapes, l.shape = append(l.shapes, m), s
	return nil
}

func (l *links) Heal(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heals++
	return nil
}

func TestSlowLinks(t *testing.T) {
	all := map[int][]int{0: {1, 2, 3, 4}, 1: {0, 2, 3, 4}, 2: {0, 1, 3, 4}, 3: {0, 1, 2, 4}, 4: {0, 1, 2, 3}}
	tests := []struct {
		fault string
		shape proxy.Shape
		links map[int][]int // nil: the target's links both ways
	}{
		{SlowLeader, ShapeSlowLeader, map[int][]int{0: {2}, 1: {2}, 2: {0, 1, 3, 4}, 3: {2}, 4: {2}}},
		{SlowFollower, ShapeSlowFollower, nil},
		{SlowAll, ShapeSlowAll, all},
		{Lossy, ShapeLossy, all},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			f, l := &fake{}, &links{}
			n := New(f, f, []string{tt.fault}, Schedule{Quiet: time.Millisecond, Hold: time.Millisecond}, 3,
				func() int64 { return 0 }, func(string, ...any) {})
			n.SetLinks(l)
			targets, err := n.start(context.Background(), tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.links
			if want == nil {
				if len(targets) != 1 || targets[0] == 2 {
					t.Fatalf("targets %v: want one follower", targets)
				}
				x := targets[0]
				want = map[int][]int{x: {}}
				for i := 0; i < 5; i++ {
					if i != x {
						want[i] = []int{x}
						want[x] = append(want[x], i)
					}
				}
			}
			if len(l.shapes) != 1 || !reflect.DeepEqual(l.shapes[0], want) || l.shape != tt.shape {
				t.Fatalf("shaped %v with %v; want %v with %v", l.shapes, l.shape, want, tt.shape)
			}
			if err := n.Heal(context.Background()); err != nil || l.heals != 1 {
				t.Fatalf("heal = %v after %d link heals; want one", err, l.heals)
			}
			if err := n.Heal(context.Background()); err != nil || l.heals != 1 {
				t.Fatalf("a second heal healed the links again (%d)", l.heals)
			}
		})
	}
}

func TestSlowLinksNeedLinks(t *testing.T) {
	f := &fake{}
	n := New(f, f, []string{SlowAll}, Schedule{}, 1, func() int64 { return 0 }, func(string, ...any) {})
	if _, err := n.start(context.Background(), SlowAll); err == nil {
		t.Fatal("slow links without proxies: no error")
	}
	if !NeedsLinks([]string{KillOne, Lossy}) || NeedsLinks([]string{PartitionLeader}) {
		t.Fatal("NeedsLinks")
	}
}
