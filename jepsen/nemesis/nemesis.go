// Package nemesis injects faults into a running cluster on a seeded
// schedule: network partitions (isolate the leader, random halves, a
// follower cut from its peers), SIGKILL of a node or the leader, and
// SIGSTOP of the leader or a follower for longer than the election
// timeout, a follower removed from the cluster, killed and wiped, then
// joined again as a new member under its old id, and a domain-key
// rotation (whose re-wrapping runs on while other faults strike). Each fault is held for a while and then healed; the intervals
// are recorded as history events.
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// Cluster is what the nemesis needs from the cluster runner.
type Cluster interface {
	Size() int
	NodeID(i int) string
	Leader(ctx context.Context) (int, error)
	Kill(i int) error
	Restart(ctx context.Context, i int) error
	Pause(i int) error
	Resume(i int) error
	// Wipe removes node i from the cluster, kills it and deletes its
	// data dir; Rejoin has it join again, empty, as a voter.
	Wipe(ctx context.Context, i int) error
	Rejoin(ctx context.Context, i int) error
	// RotateDomainKey starts a domain-key rotation (trent cluster
	// rotate-domain-key) through a running node; the cluster re-wraps in
	// the background while the workload runs.
	RotateDomainKey(ctx context.Context) error
}

// Network cuts and heals links between nodes.
type Network interface {
	Partition(ctx context.Context, grudge map[int][]int) error
	Heal(ctx context.Context) error
}

// Fault names.
const (
	PartitionLeader   = "partition-leader"
	PartitionHalves   = "partition-halves"
	PartitionFollower = "partition-follower"
	PartitionRing     = "partition-ring"   // 5 nodes: each sees a majority, no two the same
	PartitionBridge   = "partition-bridge" // 5 nodes: two pairs, one node in both
	KillOne           = "kill-one"
	KillLeader        = "kill-leader"
	KillMajority      = "kill-majority"
	PauseLeader       = "pause-leader"
	PauseFollower     = "pause-follower"
	Wipe              = "wipe" // remove a follower, wipe its data dir, join it again
	// RotateDomainKey starts a domain-key rotation; nothing to heal.
	RotateDomainKey = "rotate-domain-key"
)

// groups maps the --nemesis names to faults.
var groups = map[string][]string{
	"partition":            {PartitionLeader, PartitionHalves, PartitionFollower},
	"kill":                 {KillOne, KillLeader, KillMajority},
	"partition-majorities": {PartitionRing, PartitionBridge},
	PartitionRing:          {PartitionRing},
	PartitionBridge:        {PartitionBridge},
	KillMajority:           {KillMajority},
	"pause":                {PauseLeader, PauseFollower},
	PartitionLeader:        {PartitionLeader},
	PartitionHalves:        {PartitionHalves},
	PartitionFollower:      {PartitionFollower},
	KillOne:                {KillOne},
	KillLeader:             {KillLeader},
	PauseLeader:            {PauseLeader},
	PauseFollower:          {PauseFollower},
	Wipe:                   {Wipe},
	RotateDomainKey:        {RotateDomainKey},
	"none":                 nil,
}

// Names lists the accepted --nemesis names.
func Names() []string {
	var n []string
	for k := range groups {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Parse turns a comma-separated --nemesis value into faults.
func Parse(spec string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(spec, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		fs, ok := groups[s]
		if !ok {
			return nil, fmt.Errorf("unknown nemesis %q (want %s)", s, strings.Join(Names(), ", "))
		}
		for _, f := range fs {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// NeedsNetwork says whether faults include a partition.
func NeedsNetwork(faults []string) bool {
	for _, f := range faults {
		if strings.HasPrefix(f, "partition") {
			return true
		}
	}
	return false
}

// Schedule is the timing of the fault loop.
type Schedule struct {
	Quiet time.Duration // healthy time before each fault (plus up to half again)
	Hold  time.Duration // how long a fault lasts (plus up to half again)
}

// Nemesis runs faults against a cluster.
type Nemesis struct {
	c      Cluster
	net    Network
	faults []string
	sched  Schedule
	rng    *rand.Rand
	now    func() int64
	log    func(string, ...any)

	killed, paused, wiped []int
	cut                   bool
	disk                  diskState // disk.go
	// links shapes links (slow.go); undo ends the faults of the
	// registered kinds (extra) that are in force.
	links Links
	undo  []func(context.Context) error
	// Current describes the fault in force, for progress output.
	current chan string
}

// New returns a nemesis. now gives history time; log progress lines.
func New(c Cluster, net Network, faults []string, sched Schedule, seed uint64, now func() int64, log func(string, ...any)) *Nemesis {
	return &Nemesis{c: c, net: net, faults: faults, sched: sched, rng: rand.New(rand.NewPCG(seed, 0x6e656d)),
		now: now, log: log, current: make(chan string, 1)}
}

// Current returns a description of the fault in force, or "".
func (n *Nemesis) Current() string {
	select {
	case s := <-n.current:
		n.current <- s
		return s
	default:
		return ""
	}
}

func (n *Nemesis) setCurrent(s string) {
	select {
	case <-n.current:
	default:
	}
	if s != "" {
		n.current <- s
	}
}

func (n *Nemesis) jitter(d time.Duration) time.Duration {
	return d + time.Duration(n.rng.Int64N(int64(d)/2+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Run injects faults until ctx ends, then heals everything. It returns
// the fault intervals.
func (n *Nemesis) Run(ctx context.Context) ([]history.Event, error) {
	var events []history.Event
	if len(n.faults) == 0 {
		<-ctx.Done()
		return nil, nil
	}
	for {
		if !sleep(ctx, n.jitter(n.sched.Quiet)) {
			break
		}
		f := n.faults[n.rng.IntN(len(n.faults))]
		ev := history.Event{Name: f, Start: n.now()}
		targets, err := n.start(ctx, f)
		if n.disk.event != "" { // crash-points names the point
			ev.Name, n.disk.event = n.disk.event, ""
		}
		if err != nil {
			n.log("nemesis: %s failed: %v", f, err)
		}
		for _, t := range targets {
			ev.Targets = append(ev.Targets, n.c.NodeID(t))
		}
		n.setCurrent(fmt.Sprintf("%s%v", f, ev.Targets))
		n.log("nemesis: %s %v", f, ev.Targets)
		held := sleep(ctx, n.jitter(n.sched.Hold))
		herr := n.Heal(context.WithoutCancel(ctx))
		ev.End = n.now()
		n.setCurrent("")
		events = append(events, ev)
		n.log("nemesis: healed %s", f)
		if herr != nil {
			return events, herr
		}
		if !held {
			break
		}
	}
	return events, n.Heal(context.WithoutCancel(ctx))
}

// start begins fault f and returns the nodes it targets.
func (n *Nemesis) start(ctx context.Context, f string) ([]int, error) {
	size := n.c.Size()
	all := make([]int, size)
	for i := range all {
		all[i] = i
	}
	leader, lerr := n.c.Leader(ctx)
	follower := func() int {
		var fs []int
		for _, i := range all {
			if i != leader {
				fs = append(fs, i)
			}
		}
		return fs[n.rng.IntN(len(fs))]
	}
	switch f {
	case PartitionLeader, PartitionFollower:
		target := leader
		if f == PartitionFollower || lerr != nil {
			target = follower()
		}
		return []int{target}, n.isolate(ctx, []int{target}, all)
	case PartitionHalves:
		perm := n.rng.Perm(size)
		minority := perm[:size/2]
		return minority, n.isolate(ctx, minority, all)
	case PartitionRing, PartitionBridge:
		if size != 5 {
			return nil, fmt.Errorf("%s needs 5 nodes, not %d", f, size)
		}
		if n.net == nil {
			return nil, errors.New("partitions need a network: namespaces or proxies")
		}
		grudge := map[int][]int{}
		for a := 0; a < size; a++ {
			for b := 0; b < size; b++ {
				d := min((a-b+size)%size, (b-a+size)%size)
				ring := d == 2 // each node keeps its two neighbours
				bridge := a != 2 && b != 2 && (a < 2) != (b < 2)
				if f == PartitionRing && ring || f == PartitionBridge && bridge {
					grudge[a] = append(grudge[a], b)
				}
			}
		}
		n.cut = true
		return all, n.net.Partition(ctx, grudge)
	case KillMajority:
		perm := n.rng.Perm(size)
		targets := perm[:size/2+1]
		var errs []string
		for _, t := range targets {
			n.killed = append(n.killed, t)
			if err := n.c.Kill(t); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return targets, fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return targets, nil
	case KillOne, KillLeader:
		target := all[n.rng.IntN(size)]
		if f == KillLeader && lerr == nil {
			target = leader
		}
		n.killed = append(n.killed, target)
		return []int{target}, n.c.Kill(target)
	case PauseLeader, PauseFollower:
		target := follower()
		if f == PauseLeader && lerr == nil {
			target = leader
		}
		n.paused = append(n.paused, target)
		return []int{target}, n.c.Pause(target)
	case Wipe:
		// Never the leader: removing it is a leadership transfer, which
		// the other faults cover.
		if lerr != nil {
			return nil, fmt.Errorf("wipe: %w", lerr)
		}
		target := follower()
		n.wiped = append(n.wiped, target)
		return []int{target}, n.c.Wipe(ctx, target)
	case RotateDomainKey:
		return nil, n.c.RotateDomainKey(ctx)
	}
	if start, ok := extra[f]; ok {
		return start(ctx, n, leader, lerr)
	}
	targets, name, err := n.startDisk(ctx, f, leader, lerr, follower)
	n.disk.event = name
	return targets, err
}

// isolate cuts the nodes in side from the rest, both ways.
func (n *Nemesis) isolate(ctx context.Context, side, all []int) error {
	if n.net == nil {
		return errors.New("partitions need a network: namespaces or proxies")
	}
	grudge := map[int][]int{}
	for _, a := range all {
		for _, b := range all {
			if slices.Contains(side, a) != slices.Contains(side, b) {
				grudge[a] = append(grudge[a], b)
			}
		}
	}
	n.cut = true
	return n.net.Partition(ctx, grudge)
}

// Heal ends every fault: heals the network, resumes paused nodes,
// restarts killed ones and has wiped ones join again.
func (n *Nemesis) Heal(ctx context.Context) error {
	var errs []string
	if n.cut {
		if err := n.net.Heal(ctx); err != nil {
			errs = append(errs, err.Error())
		}
		n.cut = false
	}
	for _, i := range n.paused {
		if err := n.c.Resume(i); err != nil {
			errs = append(errs, err.Error())
		}
	}
	n.paused = nil
	errs = append(errs, n.healDisk()...)
	// Restart together: a node serves only once it has caught up through a
	// quorum, which may need the others back.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, i := range n.killed {
		wg.Go(func() {
			if err := n.c.Restart(ctx, i); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n.killed = nil
	// One at a time: each joins through the live members.
	for _, i := range n.wiped {
		if err := n.c.Rejoin(ctx, i); err != nil {
			errs = append(errs, err.Error())
		}
	}
	n.wiped = nil
	for _, u := range n.undo {
		if err := u(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	n.undo = nil
	if len(errs) > 0 {
		return fmt.Errorf("heal: %s", strings.Join(errs, "; "))
	}
	return nil
}
