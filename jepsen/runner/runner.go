// Package runner runs one test cell: it sets up the network namespaces
// and the node processes, runs a workload under a nemesis through a chaos,
// a recovery and a final phase, tears everything down, checks the history
// and writes the cell's report folder.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/netns"
	"github.com/trentkms/trent/jepsen/nodes"
	"github.com/trentkms/trent/jepsen/proxy"
	"github.com/trentkms/trent/jepsen/report"
	"github.com/trentkms/trent/jepsen/workload"
)

// Config is one cell's configuration; it is written to config.json.
type Config struct {
	Workload     string        `json:"workload"`
	Nemesis      string        `json:"nemesis"`
	Nodes        int           `json:"nodes"`
	Concurrency  int           `json:"concurrency"`
	TimeLimit    time.Duration `json:"time_limit"`
	Recovery     time.Duration `json:"recovery"`
	Seed         uint64        `json:"seed"`
	MaxStaleness time.Duration `json:"max_staleness"`
	// Unsafe starts the nodes with --unsafe-skip-freshness (the canary).
	Unsafe bool `json:"unsafe"`
	// Propagation, if positive, starts the nodes with
	// --simulated-propagation, and checker.Propagation holds the reads
	// to it.
	Propagation time.Duration    `json:"simulated_propagation,omitempty"`
	Schedule    nemesis.Schedule `json:"schedule"`
	MinRate     float64          `json:"min_ok_ops_per_second"`
	// MaxWriteUnavailability is the share of writes that may fail while
	// links are slow but a quorum is reachable (checker.WriteAvailability).
	MaxWriteUnavailability float64 `json:"max_write_unavailability"`
	// Rate caps each worker's operations a second (0: no cap).
	Rate     float64 `json:"rate_per_worker"`
	Netns    bool    `json:"netns"`
	Prefix   string  `json:"netns_prefix"`
	Subnet   string  `json:"subnet"`
	BasePort int     `json:"base_port"`
	NodeBin  string  `json:"node_bin"`
	// FaultNodeBin is the node built with -tags faultinject, for the
	// cells whose faults need fault points (disk.go).
	FaultNodeBin  string        `json:"fault_node_bin,omitempty"`
	TrentBin      string        `json:"trent_bin"`
	Dir           string        `json:"dir"`
	LinearTimeout time.Duration `json:"linearizability_timeout"`
	// Sample, if positive, samples the nodes' memory, descriptors, log
	// and audit sizes this often (the soak; soak.go).
	Sample time.Duration `json:"sample,omitempty"`
	// Log receives progress lines; Stdout the periodic progress display.
	Log    func(string, ...any) `json:"-"`
	Stdout io.Writer            `json:"-"`
}

// Run runs one cell and returns its report cell. An error means the cell
// could not run (setup failed), not that the checkers found anomalies.
func Run(ctx context.Context, cfg Config) (cell report.Cell, err error) {
	cell = report.Cell{Workload: cfg.Workload, Nemesis: cfg.Nemesis, Seed: cfg.Seed, Dir: cfg.Dir, Verdict: checker.Unknown}
	logf := func(format string, args ...any) {
		cfg.Log("[%s/%s] "+format, append([]any{cfg.Workload, cfg.Nemesis}, args...)...)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return cell, err
	}
	if err := report.WriteJSON(filepath.Join(cfg.Dir, "config.json"), cfg); err != nil {
		return cell, err
	}
	wl, err := workload.New(cfg.Workload)
	if err != nil {
		return cell, err
	}
	faults, err := nemesis.Parse(cfg.Nemesis)
	if err != nil {
		return cell, err
	}
	nodeArgs, err := nodeFlags(cfg)
	if err != nil {
		return cell, err
	}
	nodeArgs, clockDir, err := clockArgs(cfg, faults, nodeArgs)
	if err != nil {
		return cell, err
	}
	// Partitions without namespaces: a proxy per link on loopback.
	var px *proxy.Net
	if nemesis.NeedsNetwork(faults) && !cfg.Netns {
		if !nodeHas(cfg, "peer-dial-map") {
			return cell, errors.New("partitions without network namespaces need a node binary with --peer-dial-map; run as root, or use a newer node")
		}
		px = proxy.New()
	}
	if px, err = linkProxies(cfg, faults, px); err != nil {
		return cell, err
	}
	if px != nil {
		defer px.Close()
	}

	// The network.
	cleanup := context.WithoutCancel(ctx)
	var nt *netns.Net
	if cfg.Netns {
		_ = netns.Cleanup(cleanup, cfg.Prefix) // leftovers of a crashed run
		if nt, err = netns.Setup(ctx, cfg.Prefix, cfg.Subnet, cfg.Nodes); err != nil {
			return cell, err
		}
		defer func() {
			if terr := nt.Teardown(cleanup); terr != nil && err == nil {
				err = terr
			}
		}()
	}

	// The cluster.
	nodesDir := filepath.Join(cfg.Dir, "nodes")
	var prox nodes.Proxy
	if px != nil {
		prox = px
	}
	nc := nodes.Config{NodeBin: cfg.NodeBin, Dir: nodesDir, Nodes: cfg.Nodes, Net: nt, Proxy: prox,
		BasePort: cfg.BasePort, NodeArgs: nodeArgs, ClockDir: clockDir, Log: logf}
	if err := diskSetup(cfg, faults, &nc); err != nil {
		return cell, err
	}
	cl, err := nodes.Start(ctx, nc)
	if cl != nil {
		defer func() { cl.Stop(); cl.Unmount() }()
	}
	if err != nil {
		return cell, err
	}
	logf("cluster of %d ready", cfg.Nodes)

	env, err := newEnv(ctx, cfg, cl)
	if err != nil {
		return cell, err
	}
	if err := wl.Setup(ctx, env); err != nil {
		return cell, err
	}

	// Chaos and recovery.
	var netw nemesis.Network
	if nt != nil {
		netw = nt
	}
	if px != nil {
		netw = px
	}
	netw = bothNets(nt, px, netw)
	nem := nemesis.New(cliCluster{cl, trentCLI(ctx, cfg, cl)}, netw, faults, cfg.Schedule, cfg.Seed, env.Rec.Now, logf)
	if px != nil {
		nem.SetLinks(px)
	}
	chaos, stopChaos := context.WithTimeout(ctx, cfg.TimeLimit)
	defer stopChaos()
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Concurrency; i++ {
		// A third of the workers are readers, pinned to the nodes in turn.
		w := workload.NewWorker(i, cfg.Seed)
		if i%3 == 2 {
			w = workload.NewReader(i, cfg.Seed, i/3)
		}
		wg.Go(func() {
			// Each worker runs at most cfg.Rate operations a second.
			var tick <-chan time.Time
			if cfg.Rate > 0 {
				t := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
				defer t.Stop()
				tick = t.C
			}
			for load.Err() == nil {
				wl.Step(load, env, w)
				if tick != nil {
					select {
					case <-tick:
					case <-load.Done():
					}
				}
			}
		})
	}
	var soaking *soak
	if cfg.Sample > 0 {
		soaking = startSoak(load, cfg.Sample, cl, env.Rec)
	}
	progressDone := make(chan struct{})
	go progress(load, cfg, env.Rec, nem, progressDone)
	events, nemErr := nem.Run(chaos)
	if nemErr != nil {
		logf("nemesis: %v", nemErr)
	}
	logf("chaos over; recovering for %v", cfg.Recovery)
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Recovery):
	}
	stopLoad()
	wg.Wait()
	<-progressDone
	if ctx.Err() != nil {
		return cell, ctx.Err()
	}

	// The final phase: restore, then read everything from every node.
	logf("final reads")
	fw := workload.NewWorker(cfg.Concurrency, cfg.Seed)
	wl.Final(ctx, env, fw)
	// Convergence compares the nodes at one index: wait until all have
	// applied the same, last entry.
	var convergeNote string
	if idx, err := cl.WaitConverged(ctx, 20*time.Second); err != nil {
		convergeNote = fmt.Sprintf("the nodes did not reach one applied index within 20s: %v", err)
		logf("%s", convergeNote)
	} else {
		convergeNote = fmt.Sprintf("all nodes at applied index %d before the final reads", idx)
	}
	env.FinalReads(ctx, fw)
	cl.Stop()
	trails := auditTrails(ctx, cfg, cl, events) // before the data dirs go
	cl.Unmount()
	elapsed := time.Duration(env.Rec.Now())

	// Check and report.
	ops := env.Rec.Ops()
	convergence := checker.Convergence(ops)
	convergence.Notes = append(convergence.Notes, convergeNote)
	results := []checker.Result{
		checker.Linearizable(ops, cfg.LinearTimeout, filepath.Join(cfg.Dir, "porcupine.html")),
		checker.Staleness(ops, cfg.MaxStaleness),
		checker.StaleValues(ops, cfg.MaxStaleness),
		checker.StaleGrants(ops, cfg.MaxStaleness),
		checker.Propagation(ops, cfg.Propagation),
		checker.Durability(ops),
		checker.Lifecycle(ops, cfg.MaxStaleness),
		checker.Idempotency(ops),
		convergence,
		checker.Logs(cl.LogPaths()),
		checker.Throughput(ops, cfg.TimeLimit+cfg.Recovery, cfg.MinRate),
	}
	results = append(results, checker.Audit(ops, trails))
	results = append(results, faultChecks(cfg, ops, events)...)
	if soaking != nil {
		res, err := soaking.finish(cfg.Dir)
		if err != nil {
			return cell, err
		}
		results = append(results, res)
	}
	if nemErr != nil {
		results = append(results, checker.Result{Name: "nemesis", Verdict: checker.Unknown, Notes: []string{nemErr.Error()}})
	}
	cell.Verdict, cell.Anomalies = checker.Compose(results)
	cell.Results, cell.Ops, cell.Seconds = results, len(ops), elapsed.Seconds()
	for _, op := range ops {
		if op.Type == history.Ok {
			cell.OkOps++
		}
	}
	if err := history.WriteFile(filepath.Join(cfg.Dir, "history.jsonl"), ops); err != nil {
		return cell, err
	}
	if err := report.WriteJSON(filepath.Join(cfg.Dir, "events.json"), events); err != nil {
		return cell, err
	}
	if err := report.WriteJSON(filepath.Join(cfg.Dir, "results.json"), cell); err != nil {
		return cell, err
	}
	f, err := os.Create(filepath.Join(cfg.Dir, "plot.svg"))
	if err != nil {
		return cell, err
	}
	perr := report.Plot(f, fmt.Sprintf("%s / %s, %d nodes, seed %d", cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Seed), ops, events)
	if cerr := f.Close(); perr == nil {
		perr = cerr
	}
	if perr != nil {
		return cell, perr
	}
	pruneNodeDirs(nodesDir)
	for _, r := range results {
		logf("  %s", r.Summary())
		for i, w := range r.Witnesses {
			if i == 3 {
				logf("      ... (%s/results.json)", cfg.Dir)
				break
			}
			logf("      %s", w)
		}
	}
	logf("verdict: %s (%d ops, %d ok)", cell.Verdict, cell.Ops, cell.OkOps)
	return cell, nil
}

// nodeFlags returns the consistency flags for the nodes, if the node
// binary has them.
func nodeFlags(cfg Config) ([]string, error) {
	out, _ := exec.Command(cfg.NodeBin, "--help").CombinedOutput()
	help := string(out)
	var args []string
	if strings.Contains(help, "max-staleness") {
		args = append(args, "--max-staleness", cfg.MaxStaleness.String())
	}
	if cfg.Unsafe {
		// The flag is hidden; it comes with the consistency contract.
		if !strings.Contains(help, "max-staleness") {
			return nil, errors.New("the node binary predates the consistency contract (no --max-staleness): it has no --unsafe-skip-freshness for the canary")
		}
		args = append(args, "--unsafe-skip-freshness")
	}
	if cfg.Propagation > 0 {
		if !strings.Contains(help, "simulated-propagation") {
			return nil, errors.New("the node binary has no --simulated-propagation")
		}
		args = append(args, "--simulated-propagation", cfg.Propagation.String())
	}
	if cfg.Workload == "lifecycle" {
		// Hidden too: deletion windows and rotation periods must end
		// within the test.
		args = append(args, "--unsafe-lifecycle-day", workload.DayForLifecycle.String())
	}
	return args, nil
}

// nodeHas says whether the node binary has a flag.
func nodeHas(cfg Config, flag string) bool {
	out, _ := exec.Command(cfg.NodeBin, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+flag)
}

// pruneNodeDirs keeps each node's log and drops its state.
func pruneNodeDirs(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		sub, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		for _, s := range sub {
			if s.Name() != "node.log" {
				_ = os.RemoveAll(filepath.Join(dir, e.Name(), s.Name()))
			}
		}
	}
}

// trentCLI returns a runner of the trent CLI as the admin, through the
// nodes in turn, retrying a failed call up to 20 times; an answer that
// the thing exists already (or a rotation is re-wrapping) is success.
func trentCLI(ctx context.Context, cfg Config, cl *nodes.Cluster) func(args ...string) error {
	admin := []string{"--ca", filepath.Join(cl.AdminDir, "ca.pem"), "--cert", filepath.Join(cl.AdminDir, "cert.pem"), "--key", filepath.Join(cl.AdminDir, "key.pem")}
	return func(args ...string) error {
		var last error
		for attempt := 0; attempt < 20; attempt++ {
			n := cl.Nodes[attempt%len(cl.Nodes)]
			if !n.Running() || n.Paused() {
				continue
			}
			out, err := exec.CommandContext(ctx, cfg.TrentBin, append(append([]string{"--endpoint", n.BaseURL()}, admin...), args...)...).CombinedOutput()
			if err == nil {
				return nil
			}
			last = fmt.Errorf("trent %s: %v: %s", strings.Join(args, " "), err, out)
			if strings.Contains(string(out), "EntityAlreadyExists") || strings.Contains(string(out), "AlreadyExists") ||
				strings.Contains(string(out), "is re-wrapping") {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return last
	}
}

// cliCluster is the cluster as the nemesis drives it: a domain-key
// rotation is trent cluster rotate-domain-key.
type cliCluster struct {
	*nodes.Cluster
	trent func(args ...string) error
}

func (c cliCluster) RotateDomainKey(context.Context) error {
	return c.trent("cluster", "rotate-domain-key")
}

// newEnv makes the grantee user and the clients.
func newEnv(ctx context.Context, cfg Config, cl *nodes.Cluster) (*workload.Env, error) {
	env := &workload.Env{Rec: history.NewRecorder(nil), Concurrency: cfg.Concurrency}
	granteeDir := filepath.Join(cfg.Dir, "grantee")
	trent := trentCLI(ctx, cfg, cl)
	if err := trent("iam", "create-user", "--user-name", "jepsen-grantee"); err != nil {
		return nil, err
	}
	if err := trent("iam", "issue-cert", "--user-name", "jepsen-grantee", "--out", granteeDir, "--force"); err != nil {
		return nil, err
	}
	env.GranteeARN = "arn:aws:iam::111122223333:user/jepsen-grantee"
	gcfg, err := nodes.TLSConfig(filepath.Join(granteeDir, "ca.pem"), filepath.Join(granteeDir, "cert.pem"), filepath.Join(granteeDir, "key.pem"))
	if err != nil {
		return nil, err
	}
	grantee := nodes.RoundTripper{RT: nodes.NewTransport(gcfg)}
	for _, n := range cl.Nodes {
		env.NodeIDs = append(env.NodeIDs, n.ID)
		env.Admin = append(env.Admin, client.New(cl.HTTP(), n.BaseURL()))
		env.Grantee = append(env.Grantee, client.New(grantee, n.BaseURL()))
	}
	return env, nil
}

// progress prints a status line every few seconds until ctx ends.
func progress(ctx context.Context, cfg Config, rec *history.Recorder, nem *nemesis.Nemesis, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		counts := map[string]int{}
		for _, op := range rec.Ops() {
			counts[op.Type]++
		}
		fault := nem.Current()
		if fault == "" {
			fault = "healthy"
		}
		fmt.Fprintf(cfg.Stdout, "[%s/%s] %5.1fs ok=%d fail=%d info=%d  %s\n", cfg.Workload, cfg.Nemesis,
			time.Duration(rec.Now()).Seconds(), counts[history.Ok], counts[history.Fail], counts[history.Info], fault)
	}
}
