package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/netns"
	"github.com/trentkms/trent/jepsen/proxy"
	"github.com/trentkms/trent/jepsen/workload"
)

// linkProxies returns the proxies of a cell whose faults shape links
// (slow, lossy): px if the cell already has them (loopback partitions),
// else a proxy per link, on the host side of the bridge in namespaces.
func linkProxies(cfg Config, faults []string, px *proxy.Net) (*proxy.Net, error) {
	if px != nil || !nemesis.NeedsLinks(faults) {
		return px, nil
	}
	if !nodeHas(cfg, "peer-dial-map") {
		return nil, errors.New("slow links need a node binary with --peer-dial-map")
	}
	if cfg.Netns {
		return proxy.NewOn(cfg.Subnet + ".254"), nil
	}
	return proxy.New(), nil
}

// bothNets returns the network the partitions cut. In namespaces with
// link proxies, peers talk through the proxies on the host, which the
// blackhole routes do not cover: a partition cuts the routes (gossip,
// direct traffic) and the proxies both.
func bothNets(nt *netns.Net, px *proxy.Net, netw nemesis.Network) nemesis.Network {
	if nt == nil || px == nil {
		return netw
	}
	return both{nt, px}
}

type both struct {
	nt *netns.Net
	px *proxy.Net
}

func (b both) Partition(ctx context.Context, grudge map[int][]int) error {
	return errors.Join(b.nt.Partition(ctx, grudge), b.px.Partition(ctx, grudge))
}

func (b both) Heal(ctx context.Context) error {
	return errors.Join(b.nt.Heal(ctx), b.px.Heal(ctx))
}

// slowWindows are the slow-link fault intervals; a slow follower's own
// links are slower than a client waits, so it is far.
func slowWindows(events []history.Event) []checker.Window {
	var ws []checker.Window
	for _, ev := range events {
		if !nemesis.IsSlowLink(ev.Name) {
			continue
		}
		w := checker.Window{Name: ev.Name, Start: ev.Start, End: ev.End}
		if ev.Name == nemesis.SlowFollower {
			w.Far = ev.Targets
		}
		ws = append(ws, w)
	}
	return ws
}

// clockArgs gives a cell with clock faults a clock file per node, in
// dir/clocks, and returns that directory ("" without clock faults). The
// canary of the clock faults is a node that times bounded reads on its
// time of day (--unsafe-clock-freshness) instead of skipping the
// freshness check.
func clockArgs(cfg Config, faults, args []string) ([]string, string, error) {
	if !nemesis.NeedsClocks(faults) {
		return args, "", nil
	}
	dir := filepath.Join(cfg.Dir, "clocks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	if cfg.Unsafe {
		args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--unsafe-skip-freshness" })
		args = append(args, "--unsafe-clock-freshness")
	}
	return args, dir, nil
}

// faultChecks are the checkers of the slow-link and clock faults: writes
// keep working while links are slow, and no deletion comes early.
func faultChecks(cfg Config, ops []history.Op, events []history.Event) []checker.Result {
	out := []checker.Result{checker.WriteAvailability(ops, slowWindows(events), cfg.MaxWriteUnavailability)}
	if cfg.Workload == "lifecycle" {
		out = append(out, checker.EarlyDeletion(ops, workload.DoomedWindowDays*workload.DayForLifecycle, cfg.MaxStaleness))
	}
	return out
}
