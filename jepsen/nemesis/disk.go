package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Disk faults: a node whose disk fills up, a node whose fsyncs fail, and
// a node killed at a chosen point of its storage code. The cluster must
// give nodes a disk of their own (DiskFull) or fault points (FsyncFail,
// CrashPoints): see jepsen/nodes/disk.go and package failpoint.
const (
	DiskFull    = "disk-full"    // a node's data dir fills up (tmpfs)
	FsyncFail   = "fsync-fail"   // a node's raft log appends and audit fsyncs fail with EIO
	CrashPoints = "crash-points" // a node kills itself at the next crash point, in turn
)

func init() {
	groups[DiskFull] = []string{DiskFull}
	groups[FsyncFail] = []string{FsyncFail}
	groups[CrashPoints] = []string{CrashPoints}
	groups["disk"] = []string{DiskFull, FsyncFail}
}

// Disk is what the disk faults need from the cluster runner.
type Disk interface {
	Fill(i int) error
	Free(i int) error
	SetFailpoints(i int, spec string) error
	WaitExit(i int, d time.Duration) bool
	JoinCrashing(ctx context.Context, i int) error
}

// FsyncFailSpec is the fault points fsync-fail sets.
const FsyncFailSpec = "raft-log-append=error\nraft-stable-store=error\naudit-fsync=error"

// Crash points, taken in turn by crash-points, and where each is hit:
// any node unless the point names the leader or a follower.
var crashPoints = []struct {
	point string
	where string // "any", "leader", "restart" (a follower restarted), "join" (a wiped node joining)
}{
	{"raft-log-append", "any"},
	{"audit-commit", "any"},
	{"fsm-apply", "any"},
	{"snapshot-persist", "any"},
	{"audit-write", "any"},
	{"lifecycle-propose", "leader"},
	{"raft-log-appended", "leader"},
	{"snapshot-install", "restart"},
	{"audit-rotate", "any"},
	{"lifecycle-applied", "leader"},
	{"hsm-state-write", "join"},
}

// CrashPointNames lists the crash points crash-points takes in turn.
func CrashPointNames() []string {
	var out []string
	for _, c := range crashPoints {
		out = append(out, c.point)
	}
	return out
}

// NeedsDisk says whether faults need nodes with a disk of their own.
func NeedsDisk(faults []string) bool { return hasAny(faults, DiskFull) }

// NeedsFailpoints says whether faults need nodes with fault points.
func NeedsFailpoints(faults []string) bool { return hasAny(faults, FsyncFail, CrashPoints) }

// IsDisk says whether faults include a disk fault.
func IsDisk(faults []string) bool { return hasAny(faults, DiskFull, FsyncFail, CrashPoints) }

func hasAny(faults []string, names ...string) bool {
	for _, f := range faults {
		for _, n := range names {
			if f == n {
				return true
			}
		}
	}
	return false
}

// diskState is what the disk faults have done, for Heal.
type diskState struct {
	filled, failing []int
	next            int    // the next crash point
	event           string // the last fault's event name
}

// startDisk begins a disk fault; it returns the targets and a name for
// the fault's event (crash-points adds the point).
func (n *Nemesis) startDisk(ctx context.Context, f string, leader int, lerr error, follower func() int) ([]int, string, error) {
	d, ok := n.c.(Disk)
	if !ok {
		return nil, f, fmt.Errorf("%s: the cluster has no disk faults", f)
	}
	size := n.c.Size()
	switch f {
	case DiskFull:
		t := n.rng.IntN(size)
		n.disk.filled = append(n.disk.filled, t)
		return []int{t}, f, d.Fill(t)
	case FsyncFail:
		t := n.rng.IntN(size)
		n.disk.failing = append(n.disk.failing, t)
		return []int{t}, f, d.SetFailpoints(t, FsyncFailSpec)
	case CrashPoints:
		cp := crashPoints[n.disk.next%len(crashPoints)]
		n.disk.next++
		name := f + ":" + cp.point
		t := n.rng.IntN(size)
		switch cp.where {
		case "leader":
			if lerr == nil {
				t = leader
			}
		case "restart", "join":
			if lerr != nil {
				return nil, name, fmt.Errorf("%s: %w", name, lerr)
			}
			t = follower()
		}
		n.disk.failing = append(n.disk.failing, t)
		if cp.where == "join" {
			// The soft HSM writes its state files at a node's first start:
			// wipe a follower and crash it during its join.
			n.wiped = append(n.wiped, t)
			if err := n.c.Wipe(ctx, t); err != nil {
				return []int{t}, name, err
			}
			if err := d.SetFailpoints(t, cp.point+"=crash"); err != nil {
				return []int{t}, name, err
			}
			err := d.JoinCrashing(ctx, t)
			if err == nil {
				n.log("nemesis: %s crashed at %s while joining", n.c.NodeID(t), cp.point)
			}
			return []int{t}, name, err
		}
		if err := d.SetFailpoints(t, cp.point+"=crash"); err != nil {
			return []int{t}, name, err
		}
		n.killed = append(n.killed, t)
		if cp.where == "restart" {
			// A node restores its state machine from its latest snapshot
			// as it starts (and from one the leader sends when it lags
			// past the trailing logs): kill it and start it again.
			if err := n.c.Kill(t); err != nil {
				return []int{t}, name, err
			}
			_ = n.c.Restart(ctx, t) // fails when it crashes starting: the point
		}
		wait := n.sched.Hold
		if strings.HasPrefix(cp.point, "snapshot-") || strings.HasPrefix(cp.point, "lifecycle-") || cp.point == "audit-rotate" {
			wait *= 3 // rarer: a snapshot, a lifecycle pass, a full audit file
		}
		if d.WaitExit(t, wait) {
			n.log("nemesis: %s crashed at %s", n.c.NodeID(t), cp.point)
			return []int{t}, name, nil
		}
		// Not reached in time: a plain kill, so the interval still
		// ends with a restart.
		n.log("nemesis: %s did not reach %s in %v; killing it", n.c.NodeID(t), cp.point, wait)
		return []int{t}, name + "(not reached)", n.c.Kill(t)
	}
	return nil, f, fmt.Errorf("unknown fault %q", f)
}

// healDisk frees filled disks and clears fault points (before killed
// nodes restart, so that none crashes again at the same point).
func (n *Nemesis) healDisk() []string {
	d, ok := n.c.(Disk)
	if !ok {
		return nil
	}
	var errs []error
	for _, i := range n.disk.filled {
		errs = append(errs, d.Free(i))
	}
	for _, i := range n.disk.failing {
		errs = append(errs, d.SetFailpoints(i, ""))
	}
	// A node that crashed under the fault (Heal restarts killed nodes
	// that do not run, and only those) comes back too; the logs checker
	// has its panic.
	for _, i := range append(n.disk.filled, n.disk.failing...) {
		if !slices.Contains(n.killed, i) && !slices.Contains(n.wiped, i) {
			n.killed = append(n.killed, i)
		}
	}
	n.disk.filled, n.disk.failing = nil, nil
	if err := errors.Join(errs...); err != nil {
		return []string{err.Error()}
	}
	return nil
}
