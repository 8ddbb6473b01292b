package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/report"
)

// crashPointsTime is the least chaos time of a crash-points cell in the
// full matrix: with the default timing, about one crash point every 12
// to 15 s, so that each of the eleven comes once.
const crashPointsTime = 150 * time.Second

// mountNSEnv marks a harness already running in a mount namespace of its
// own.
const mountNSEnv = "JEPSEN_MOUNTNS"

// needs says which of the disk faults' requirements the cells have: a
// tmpfs per node (a mount namespace of the harness's own) and a node
// built with fault points.
func needs(cells []cellSpec, canary bool) (disk, failpoints bool) {
	for _, c := range cells {
		faults, _ := nemesis.Parse(c.nemesis)
		disk = disk || nemesis.NeedsDisk(faults)
		failpoints = failpoints || nemesis.NeedsFailpoints(faults) || canary && nemesis.IsDisk(faults)
	}
	return disk, failpoints
}

// inOwnMountNS runs the harness again in a mount namespace of its own
// (root only), so that the tmpfs data dirs of disk-full cells are private
// to the test and vanish with it, also after a crash. It returns the
// child's exit status, and false when this process should run the cells
// itself (not root, or already in its own namespace).
func inOwnMountNS(args []string, stdout, stderr io.Writer) (int, bool) {
	if os.Geteuid() != 0 || os.Getenv(mountNSEnv) == "1" {
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 1, true
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = append(os.Environ(), mountNSEnv+"=1")
	// Go makes the new namespace's mounts private (MS_REC|MS_PRIVATE).
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "jepsen: a mount namespace for the disk faults: %v\n", err)
		return 1, true
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return max(ee.ExitCode(), 1), true
	}
	if err != nil {
		fmt.Fprintf(stderr, "jepsen: %v\n", err)
		return 1, true
	}
	return 0, true
}

// diskCanary adds to bad a disk cell of a canary run that its own
// checker did not catch: each disk nemesis must catch its canary (a
// record lost while the disk fails, or by recovery after a crash) by the
// audit checker, whatever the consistency checkers found.
func diskCanary(c report.Cell, bad []string) []string {
	faults, _ := nemesis.Parse(c.Nemesis)
	if !nemesis.IsDisk(faults) || c.Anomalies["audit/unaudited"] > 0 {
		return bad
	}
	return append(bad, fmt.Sprintf("canary: %s/%s: the audit checker did not catch the lost audit records", c.Workload, c.Nemesis))
}

// consistencyCaught says whether a consistency checker flagged c.
func consistencyCaught(c report.Cell) bool {
	for k := range c.Anomalies {
		for _, p := range []string{"staleness/", "stale-values/", "stale-grants/", "linearizable/"} {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
	}
	return false
}
