package nemesis

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/trentkms/trent/jepsen/proxy"
)

// Slow and lossy links: the links stay up, but carry data late, slowly or
// with losses (each lost segment a stall of one retransmission timeout).
// No link is cut, so a quorum stays reachable: writes must slow down, not
// fail, and bounded reads must keep their bound (refusing when they
// cannot).
const (
	// SlowLeader delays every link to and from the leader.
	SlowLeader = "slow-leader"
	// SlowFollower makes one follower a far replica: a second each way,
	// more than the staleness bound, so its state lags by more than the
	// bound (an unsafe node serves it; a safe one refreshes or refuses).
	SlowFollower = "slow-follower"
	// SlowAll delays every link and limits its bandwidth.
	SlowAll = "slow-all"
	// Lossy loses a tenth of what every link carries.
	Lossy = "lossy"
)

// The shapes of the slow-link faults.
var (
	ShapeSlowLeader   = proxy.Shape{Delay: 100 * time.Millisecond, Jitter: 100 * time.Millisecond}
	ShapeSlowFollower = proxy.Shape{Delay: time.Second, Jitter: 500 * time.Millisecond}
	ShapeSlowAll      = proxy.Shape{Delay: 40 * time.Millisecond, Jitter: 40 * time.Millisecond, Rate: 1 << 20}
	ShapeLossy        = proxy.Shape{Delay: 5 * time.Millisecond, Loss: 0.1}
)

// Links shapes links between nodes (proxy.Net); Heal restores them.
type Links interface {
	Shape(ctx context.Context, links map[int][]int, s proxy.Shape) error
	Heal(ctx context.Context) error
}

// SetLinks gives the nemesis the links the slow-link faults shape.
func (n *Nemesis) SetLinks(l Links) { n.links = l }

// NeedsLinks says whether faults include slow or lossy links, which need
// a proxy on every link.
func NeedsLinks(faults []string) bool { return hasPrefix(faults, "slow-", Lossy) }

// IsSlowLink says whether fault f is a slow or lossy link.
func IsSlowLink(f string) bool { return NeedsLinks([]string{f}) }

func init() {
	register(map[string]startFunc{
		SlowLeader: func(ctx context.Context, n *Nemesis, leader int, lerr error) ([]int, error) {
			t := leader
			if lerr != nil {
				t = n.followerOf(leader, lerr)
			}
			return []int{t}, n.shape(ctx, []int{t}, ShapeSlowLeader)
		},
		SlowFollower: func(ctx context.Context, n *Nemesis, leader int, lerr error) ([]int, error) {
			t := n.followerOf(leader, lerr)
			return []int{t}, n.shape(ctx, []int{t}, ShapeSlowFollower)
		},
		SlowAll: func(ctx context.Context, n *Nemesis, _ int, _ error) ([]int, error) {
			return n.all(), n.shape(ctx, nil, ShapeSlowAll)
		},
		Lossy: func(ctx context.Context, n *Nemesis, _ int, _ error) ([]int, error) {
			return n.all(), n.shape(ctx, nil, ShapeLossy)
		},
	}, map[string][]string{"slow": {SlowLeader, SlowFollower, SlowAll, Lossy}})
}

// shape shapes every link to and from the targets, both ways (every link
// if targets is empty), until Heal.
func (n *Nemesis) shape(ctx context.Context, targets []int, s proxy.Shape) error {
	if n.links == nil {
		return errors.New("slow links need the link proxies")
	}
	links := map[int][]int{}
	for a := 0; a < n.c.Size(); a++ {
		for b := 0; b < n.c.Size(); b++ {
			if a != b && (len(targets) == 0 || slices.Contains(targets, a) || slices.Contains(targets, b)) {
				links[a] = append(links[a], b)
			}
		}
	}
	n.undo = append(n.undo, n.links.Heal)
	return n.links.Shape(ctx, links, s)
}
