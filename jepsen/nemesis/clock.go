package nemesis

import (
	"context"
	"errors"
	"time"
)

// Clock faults: a node's time of day jumps forward or back, or runs fast
// or slow (the node reads it from the file its hidden
// --unsafe-clock-file names; its monotonic clock is untouched, as an OS
// clock step leaves CLOCK_MONOTONIC). Healing sets the clock right again,
// itself a jump. Nothing a node promises may depend on its time of day
// agreeing with another node's: bounded reads are timed on the monotonic
// clock, and what is dated (deletions, rotations, expiries, audit
// records) tolerates the skew as docs/consistency.md says.
const (
	ClockForward = "clock-forward" // a node's clock jumps ClockJump ahead
	ClockBack    = "clock-back"    // a node's clock jumps ClockJump back
	ClockDrift   = "clock-drift"   // a node's clock runs at half or twice the speed
	// ClockBackCut jumps a follower's clock back and cuts it from its
	// peers (clients still reach it): a node that timed its freshness on
	// its time of day would think it fresh for ClockJump longer and serve
	// stale reads (the canary, --unsafe-clock-freshness).
	ClockBackCut = "clock-back-cut"
)

// ClockJump is the size of a clock jump: well above the staleness bound
// and the election timeout, and, with --unsafe-lifecycle-day 50ms, 200
// days.
const ClockJump = 10 * time.Second

// Clocks sets the nodes' time of day (nodes.Cluster).
type Clocks interface {
	// SetClock moves node i's time of day offset from the real one
	// from now on, running at rate (1: the real speed).
	SetClock(i int, offset time.Duration, rate float64) error
}

// NeedsClocks says whether faults include clock faults, which need the
// nodes started with a clock file.
func NeedsClocks(faults []string) bool { return hasPrefix(faults, "clock-") }

func init() {
	register(map[string]startFunc{
		ClockForward: func(ctx context.Context, n *Nemesis, _ int, _ error) ([]int, error) {
			t := n.rng.IntN(n.c.Size())
			return []int{t}, n.setClock(t, ClockJump, 1)
		},
		ClockBack: func(ctx context.Context, n *Nemesis, _ int, _ error) ([]int, error) {
			t := n.rng.IntN(n.c.Size())
			return []int{t}, n.setClock(t, -ClockJump, 1)
		},
		ClockDrift: func(ctx context.Context, n *Nemesis, _ int, _ error) ([]int, error) {
			t, rate := n.rng.IntN(n.c.Size()), 0.5
			if n.rng.IntN(2) == 0 {
				rate = 2
			}
			return []int{t}, n.setClock(t, 0, rate)
		},
		ClockBackCut: func(ctx context.Context, n *Nemesis, leader int, lerr error) ([]int, error) {
			t := n.followerOf(leader, lerr)
			if err := n.setClock(t, -ClockJump, 1); err != nil {
				return []int{t}, err
			}
			return []int{t}, n.isolate(ctx, []int{t}, n.all())
		},
	}, map[string][]string{"clock": {ClockForward, ClockBack, ClockDrift, ClockBackCut}})
}

// setClock moves node i's clock until Heal sets it right.
func (n *Nemesis) setClock(i int, offset time.Duration, rate float64) error {
	cl, ok := n.c.(Clocks)
	if !ok {
		return errors.New("clock faults need nodes with a clock file")
	}
	n.undo = append(n.undo, func(context.Context) error { return cl.SetClock(i, 0, 1) })
	return cl.SetClock(i, offset, rate)
}
