// Command jepsen runs Trent's Jepsen-style tests: real node processes in
// their own network namespaces, faults on a seeded schedule, and checked
// histories. See docs/jepsen.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/netns"
	"github.com/trentkms/trent/jepsen/report"
	"github.com/trentkms/trent/jepsen/runner"
	"github.com/trentkms/trent/jepsen/workload"
)

const usage = `usage: go run ./jepsen/cmd/jepsen [options]

Runs a Trent cluster as real node processes (each in its own network
namespace when run as root), drives a workload through it while a nemesis
injects faults, then checks the recorded history. Each run writes a report
folder under --out. Exit status: 0 when every cell is valid (with
--canary: when the checkers flag the unsafe nodes), 1 otherwise, 2 for a
usage error.

Examples:
  go run ./jepsen/cmd/jepsen --nodes 5 --workload grants --nemesis partition,kill --time-limit 60s --seed 7
  go run ./jepsen/cmd/jepsen --matrix smoke
  go run ./jepsen/cmd/jepsen --matrix smoke --canary

Options:
`

type options struct {
	nodes, concurrency                   int
	workload, nemesis, matrix            string
	timeLimit, recovery, maxStaleness    time.Duration
	quiet, hold, linTimeout              time.Duration
	seed                                 uint64
	canary, noNetns, race                bool
	out, nodeBin, trentBin, subnet, pref string
	faultNodeBin                         string
	basePort                             int
	check                                string
	soak                                 time.Duration
	summarize                            string
	minRate, rate, maxWriteUnavail       float64
	propagation                          time.Duration
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("jepsen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	fs.IntVar(&o.concurrency, "concurrency", 0, "number of client workers (default 3 per node)")
	fs.StringVar(&o.workload, "workload", "grants", "workload: "+strings.Join(workload.Names(), ", "))
	fs.StringVar(&o.nemesis, "nemesis", "partition,kill", "comma-separated faults or groups: "+strings.Join(nemesis.Names(), ", "))
	fs.StringVar(&o.matrix, "matrix", "", "run a matrix instead of one cell: smoke (the CI matrix) or full")
	fs.DurationVar(&o.timeLimit, "time-limit", 30*time.Second, "length of the chaos phase of each cell")
	fs.DurationVar(&o.recovery, "recovery", 4*time.Second, "healthy load after the chaos phase, before the final reads")
	fs.DurationVar(&o.maxStaleness, "max-staleness", time.Second, "the nodes' --max-staleness, and the bound the staleness checker enforces")
	fs.DurationVar(&o.quiet, "quiet-period", 2*time.Second, "healthy time before each fault (plus up to half again)")
	fs.DurationVar(&o.hold, "hold", 4*time.Second, "how long each fault lasts (plus up to half again); above the election timeout")
	fs.DurationVar(&o.linTimeout, "linearizability-timeout", 30*time.Second, "porcupine's time budget per cell; beyond it the verdict is unknown")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the schedule and the workload (default: from the clock; printed)")
	fs.DurationVar(&o.propagation, "simulated-propagation", 0, "start the nodes with --simulated-propagation (at most half --max-staleness), and check that no read reflects a change earlier than the delay it reports")
	fs.BoolVar(&o.canary, "canary", false, "start the nodes with --unsafe-skip-freshness and succeed only if the checkers flag them")
	fs.BoolVar(&o.noNetns, "no-netns", false, "run the nodes on loopback without namespaces (partitions through a TCP proxy per link); automatic when not root")
	fs.BoolVar(&o.race, "race", false, "build the node binary with the race detector")
	fs.StringVar(&o.out, "out", "jepsen/runs", "directory for the run folders")
	fs.StringVar(&o.nodeBin, "node-bin", "", "node binary (default: build ./cmd/node)")
	fs.StringVar(&o.trentBin, "trent-bin", "", "trent CLI binary (default: build ./cmd/trent)")
	fs.StringVar(&o.faultNodeBin, "fault-node-bin", "", "node binary built with -tags faultinject, for fsync-fail, crash-points and disk canaries (default: build it when a cell needs it)")
	fs.StringVar(&o.subnet, "subnet", "10.213.0", "private /24 for the namespaces, as its first three octets")
	fs.StringVar(&o.pref, "netns-prefix", "jepsen", "name prefix of the namespaces and links (cleaned at start and end)")
	fs.IntVar(&o.basePort, "base-port", 17900, "first port on loopback with --no-netns")
	fs.Float64Var(&o.minRate, "min-rate", 5, "minimum ok operations per second for a cell to pass")
	fs.Float64Var(&o.maxWriteUnavail, "max-write-unavailability", 0.01, "share of writes that may fail for unavailability while links are slow but a quorum is reachable")
	fs.Float64Var(&o.rate, "rate", 50, "maximum operations per second of each worker (0: unlimited)")
	fs.DurationVar(&o.soak, "soak", 0, "run a soak of this length instead (e.g. 30m): 5 nodes, the mixed workload at --rate 5 a worker, a fault every few minutes; reports throughput, memory, descriptors, log and audit growth")
	fs.StringVar(&o.summarize, "summarize", "", "summarize the verdicts of every run folder under DIR per cell (scripts/jepsen-seeds.sh); runs nothing")
	fs.StringVar(&o.check, "check", "", "re-check the history of a cell folder (DIR/history.jsonl) and print the results; runs nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jepsen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.propagation < 0 || 2*o.propagation > o.maxStaleness {
		fmt.Fprintf(stderr, "jepsen: --simulated-propagation %s must be between 0 and half --max-staleness (%s)\n", o.propagation, o.maxStaleness/2)
		return 2
	}
	if o.check != "" {
		return recheck(o, stdout, stderr)
	}
	if o.summarize != "" {
		return summarize(o.summarize, stdout, stderr)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano() % 1_000_000)
	}
	if o.soak > 0 {
		soakOptions(&o, fs)
	}
	if o.concurrency == 0 {
		o.concurrency = 3 * o.nodes
	}
	cells, err := plan(o)
	if err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 2
	}
	if disk, _ := needs(cells, o.canary); disk {
		if status, done := inOwnMountNS(args, stdout, stderr); done {
			return status
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := execute(ctx, o, cells, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 1
	}
	return 0
}

type cellSpec struct {
	workload, nemesis string
	nodes             int
	timeLimit         time.Duration
}

// plan lists the cells to run.
func plan(o options) ([]cellSpec, error) {
	if o.soak > 0 {
		if o.matrix != "" {
			return nil, errors.New("--soak runs one cell; drop --matrix")
		}
		return []cellSpec{{"mixed", soakNemesis, o.nodes, o.soak}}, nil
	}
	switch o.matrix {
	case "":
		if _, err := workload.New(o.workload); err != nil {
			return nil, err
		}
		if _, err := nemesis.Parse(o.nemesis); err != nil {
			return nil, err
		}
		return []cellSpec{{o.workload, o.nemesis, o.nodes, o.timeLimit}}, nil
	case "smoke":
		// Seven cells of 20s on 3 nodes: about 7 minutes on 2 cores. The
		// process faults include wipe: no extra cell, a heal as quick as a
		// restart. The lifecycle workload runs once, under every fault:
		// deletions and rotations proposed by leaders that die.
		var cells []cellSpec
		for _, w := range workload.Names() {
			nemeses := []string{"partition", "kill,pause,wipe"}
			if w == "lifecycle" {
				nemeses = []string{"partition,kill,pause,wipe"}
			}
			for _, n := range nemeses {
				cells = append(cells, cellSpec{w, n, 3, 20 * time.Second})
			}
		}
		// One disk cell: a full disk and failing fsyncs (about 45s), and
		// one of slow and lossy links (a far follower among them).
		cells = append(cells, cellSpec{"keystate", "disk", 3, 20 * time.Second})
		cells = append(cells, cellSpec{"keystate", "slow", 3, 20 * time.Second})
		return checked(cells)
	case "full":
		var cells []cellSpec
		for _, w := range workload.Names() {
			nemeses := []string{"none", nemesis.PartitionLeader, nemesis.PartitionHalves, nemesis.PartitionFollower,
				"kill", "pause", nemesis.Wipe, "partition,kill,pause", "slow", "clock",
				nemesis.RotateDomainKey, nemesis.RotateDomainKey + "," + nemesis.KillLeader}
			if o.nodes == 5 {
				nemeses = append(nemeses, "partition-majorities")
			}
			nemeses = append(nemeses, nemesis.DiskFull, nemesis.FsyncFail, nemesis.CrashPoints)
			for _, n := range nemeses {
				limit := o.timeLimit
				if n == nemesis.CrashPoints {
					// Time to take every crash point in turn.
					limit = max(limit, crashPointsTime)
				}
				cells = append(cells, cellSpec{w, n, o.nodes, limit})
			}
		}
		return checked(cells)
	}
	return nil, fmt.Errorf("unknown --matrix %q (want smoke or full)", o.matrix)
}

// checked validates the cells of a matrix.
func checked(cells []cellSpec) ([]cellSpec, error) {
	for _, c := range cells {
		if _, err := workload.New(c.workload); err != nil {
			return nil, err
		}
		if _, err := nemesis.Parse(c.nemesis); err != nil {
			return nil, err
		}
	}
	return cells, nil
}

func execute(ctx context.Context, o options, specs []cellSpec, stdout, stderr io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
	useNetns := !o.noNetns
	if useNetns {
		if os.Geteuid() != 0 {
			logf("not root: nodes run on loopback without namespaces; partitions go through a TCP proxy per link")
			useNetns = false
		} else if err := netns.Available(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "jepsen-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.nodeBin == "" {
		o.nodeBin = filepath.Join(tmp, "node")
		buildArgs := []string{"build", "-tags", "hashicorpmetrics", "-o", o.nodeBin}
		if o.race {
			buildArgs = append(buildArgs, "-race")
		}
		if err := build(ctx, logf, append(buildArgs, "./cmd/node")...); err != nil {
			return err
		}
	}
	if _, fp := needs(specs, o.canary); fp && o.faultNodeBin == "" {
		o.faultNodeBin = filepath.Join(tmp, "node-faultinject")
		if err := build(ctx, logf, "build", "-tags", "hashicorpmetrics,faultinject", "-o", o.faultNodeBin, "./cmd/node"); err != nil {
			return err
		}
	}
	if o.trentBin == "" {
		o.trentBin = filepath.Join(tmp, "trent")
		if err := build(ctx, logf, "build", "-o", o.trentBin, "./cmd/trent"); err != nil {
			return err
		}
	}
	runName := time.Now().UTC().Format("20060102-150405") + fmt.Sprintf("-seed%d", o.seed)
	if o.canary {
		runName += "-canary"
	}
	runDir, err := filepath.Abs(filepath.Join(o.out, runName))
	if err != nil {
		return err
	}
	logf("run %s: %d cell(s), seed %d; report in %s", runName, len(specs), o.seed, runDir)
	var cells []report.Cell
	for i, s := range specs {
		if ctx.Err() != nil {
			break
		}
		cfg := runner.Config{
			Workload: s.workload, Nemesis: s.nemesis, Nodes: s.nodes, Concurrency: o.concurrency,
			TimeLimit: s.timeLimit, Recovery: o.recovery, Seed: o.seed + uint64(i), MaxStaleness: o.maxStaleness,
			Unsafe: o.canary, Propagation: o.propagation, Schedule: nemesis.Schedule{Quiet: o.quiet, Hold: o.hold}, MinRate: o.minRate, Rate: o.rate,
			MaxWriteUnavailability: o.maxWriteUnavail,
			Netns:                  useNetns, Prefix: o.pref, Subnet: o.subnet, BasePort: o.basePort,
			NodeBin: o.nodeBin, TrentBin: o.trentBin, LinearTimeout: o.linTimeout, FaultNodeBin: o.faultNodeBin,
			Dir: filepath.Join(runDir, fmt.Sprintf("%s-%s", s.workload, strings.ReplaceAll(s.nemesis, ",", "+"))),
			Log: logf, Stdout: stdout,
		}
		if o.soak > 0 {
			cfg.Sample = soakSample(o.soak)
		}
		if o.matrix != "" {
			cfg.Concurrency = 3 * s.nodes
		}
		cell, err := runner.Run(ctx, cfg)
		if err != nil {
			cell.Error = err.Error()
			logf("[%s/%s] could not run: %v", s.workload, s.nemesis, err)
		}
		cells = append(cells, cell)
	}
	if err := report.WriteJSON(filepath.Join(runDir, "results.json"), cells); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Jepsen run %s\n\nseed %d, canary %v\n\n", runName, o.seed, o.canary)
	report.Table(&md, cells)
	if err := os.WriteFile(filepath.Join(runDir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, "\n"+md.String())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return verdict(o.canary, cells)
}

// verdict decides the exit status. Normally every cell must run and be
// valid. A canary must be caught: some cell must be invalid through a
// consistency checker (staleness or linearizability), and none may fail
// to run.
func verdict(canary bool, cells []report.Cell) error {
	var bad []string
	caught := 0
	for _, c := range cells {
		if c.Error != "" {
			bad = append(bad, fmt.Sprintf("%s/%s did not run: %s", c.Workload, c.Nemesis, c.Error))
			continue
		}
		if canary {
			if consistencyCaught(c) || c.Anomalies["audit/unaudited"] > 0 {
				caught++
			}
			bad = diskCanary(c, bad) // each disk cell must catch its own
			continue
		}
		if c.Verdict != checker.Valid {
			bad = append(bad, fmt.Sprintf("%s/%s is %s", c.Workload, c.Nemesis, c.Verdict))
		}
	}
	if canary && caught == 0 {
		bad = append(bad, "canary: the checkers did not flag the unsafe nodes in any cell")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	if canary {
		fmt.Printf("canary: the checkers flagged the unsafe nodes in %d of %d cells\n", caught, len(cells))
	}
	return nil
}

func build(ctx context.Context, logf func(string, ...any), args ...string) error {
	logf("go %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (run from the repository root): %w", strings.Join(args, " "), err)
	}
	return nil
}

// recheck runs the history checkers on a recorded cell.
func recheck(o options, stdout, stderr io.Writer) int {
	f, err := os.Open(filepath.Join(o.check, "history.jsonl"))
	if err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 2
	}
	ops, err := history.ReadJSONL(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 2
	}
	results := []checker.Result{
		checker.Linearizable(ops, o.linTimeout, ""),
		checker.Staleness(ops, o.maxStaleness),
		checker.StaleValues(ops, o.maxStaleness),
		checker.StaleGrants(ops, o.maxStaleness),
		checker.Propagation(ops, o.propagation),
		checker.Durability(ops),
		checker.Idempotency(ops),
		checker.Convergence(ops),
		checker.EarlyDeletion(ops, workload.DoomedWindowDays*workload.DayForLifecycle, o.maxStaleness),
	}
	for _, r := range results {
		fmt.Fprintln(stdout, r.Summary())
		for _, w := range r.Witnesses {
			fmt.Fprintln(stdout, "  "+w)
		}
	}
	if v, _ := checker.Compose(results); v != checker.Valid {
		return 1
	}
	return 0
}

// soakNemesis are the soak's faults: every kind that leaves the node
// processes running, so that their memory and descriptors can be
// followed for the whole run (kills and wipes start new processes).
const soakNemesis = "partition,pause,slow,clock"

// soakOptions sets the soak's defaults for what the command line did not
// set: 5 nodes, a steady 5 operations a second per worker, a fault every
// two to three minutes held 10 to 15 s, 10 s of recovery.
func soakOptions(o *options, fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["nodes"] {
		o.nodes = 5
	}
	if !set["rate"] {
		o.rate = 5
	}
	if !set["quiet-period"] {
		o.quiet = 2 * time.Minute
	}
	if !set["hold"] {
		o.hold = 10 * time.Second
	}
	if !set["recovery"] {
		o.recovery = 10 * time.Second
	}
	if !set["linearizability-timeout"] {
		o.linTimeout = 5 * time.Minute
	}
}

// soakSample is how often a soak samples the nodes: 40 times a run, at
// least every 5 s and at most every minute.
func soakSample(d time.Duration) time.Duration {
	return min(max(d/40, 5*time.Second), time.Minute)
}
