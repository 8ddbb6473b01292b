package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/nodes"
)

// DiskLimit is the size of each node's tmpfs data dir in disk-full cells:
// ample for a cell's log, snapshots and audit trail, small enough that
// filling it costs little memory.
const DiskLimit = 256 << 20

// diskSetup adapts a cell's node configuration to its disk faults: a
// tmpfs per node, fault points (and the node binary built with them),
// frequent snapshots and small audit files for the crash points, and in
// a canary the broken behaviour the disk nemeses must catch.
func diskSetup(cfg Config, faults []string, nc *nodes.Config) error {
	if !nemesis.IsDisk(faults) {
		return nil
	}
	if nemesis.NeedsDisk(faults) {
		nc.DiskLimit = DiskLimit
	}
	if !nemesis.NeedsFailpoints(faults) && !cfg.Unsafe {
		return nil
	}
	if cfg.FaultNodeBin == "" {
		return errors.New("fault points need a node built with -tags faultinject (--fault-node-bin)")
	}
	nc.NodeBin, nc.Failpoints = cfg.FaultNodeBin, true
	var base []string
	if slicesContains(faults, nemesis.CrashPoints) {
		// Snapshots, snapshot installs and audit rotations within seconds.
		nc.NodeArgs = append(nc.NodeArgs, "--snapshot-interval", "1s", "--snapshot-threshold", "16", "--trailing-logs", "8")
		base = append(base, "audit-max-file-bytes=262144")
	}
	if cfg.Unsafe {
		// Canaries: a record whose write failed is acknowledged anyway;
		// recovery after a crash drops the last acknowledged record.
		base = append(base, "audit-ack-on-error=on")
		if slicesContains(faults, nemesis.CrashPoints) {
			base = append(base, "audit-recover-drop-tail=on")
		}
	}
	nc.FailpointBase = strings.Join(base, "\n")
	return nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// auditTrails verifies each node's audit chain with `trent audit verify`
// and reads its request ids. A node wiped during the run (its log went
// with its data dir) is verified but not matched against the history.
func auditTrails(ctx context.Context, cfg Config, cl *nodes.Cluster, events []history.Event) []checker.Trail {
	wiped := map[string]bool{}
	for _, ev := range events {
		if ev.Name == nemesis.Wipe || strings.HasSuffix(ev.Name, ":hsm-state-write") {
			for _, t := range ev.Targets {
				wiped[t] = true
			}
		}
	}
	var trails []checker.Trail
	for i, n := range cl.Nodes {
		t := checker.Trail{Node: n.ID}
		dir := cl.AuditDir(i)
		out, err := exec.CommandContext(ctx, cfg.TrentBin, "audit", "verify", "--dir", dir).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "no audit files") {
			t.Verify = fmt.Errorf("trent audit verify --dir %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
		}
		if t.RequestIDs, err = checker.ReadTrail(dir); err != nil {
			t.Skip = err.Error()
		}
		if wiped[n.ID] {
			t.Skip = "wiped during the run: its log went with its data dir"
		}
		trails = append(trails, t)
	}
	return trails
}
