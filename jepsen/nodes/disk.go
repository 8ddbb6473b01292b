package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// failpointEnv names a node's fault-point control file (package
// failpoint's TRENT_FAILPOINTS; jepsen does not import node code).
const failpointEnv = "TRENT_FAILPOINTS"

// fillName is the file that fills a node's disk.
const fillName = ".jepsen-fill"

// prepareDisks moves each node's data dir to Dir/<id>/data when the nodes
// get a disk of their own or fault points (the log and the control file
// stay beside it, off the small disk), mounts the tmpfs and writes the
// base control file.
func (c *Cluster) prepareDisks() error {
	if c.cfg.DiskLimit <= 0 && !c.cfg.Failpoints {
		return nil
	}
	for _, n := range c.Nodes {
		home := n.DataDir
		n.DataDir, n.LogPath = filepath.Join(home, "data"), filepath.Join(home, "node.log")
		if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
			return err
		}
		if c.cfg.Failpoints {
			n.failpoints = filepath.Join(home, "failpoints")
			if err := c.SetFailpoints(n.Index, ""); err != nil {
				return err
			}
		}
		if c.cfg.DiskLimit > 0 {
			if os.Geteuid() != 0 {
				return errors.New("a size-limited data dir needs root (a tmpfs mount)")
			}
			out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", c.cfg.DiskLimit),
				"jepsen-"+n.ID, n.DataDir).CombinedOutput()
			if err != nil {
				return fmt.Errorf("mount a tmpfs on %s: %v: %s", n.DataDir, err, strings.TrimSpace(string(out)))
			}
			n.mounted = true
		}
	}
	return nil
}

// Unmount unmounts the nodes' tmpfs data dirs, after Stop (what is in
// them is gone). It is safe to call again.
func (c *Cluster) Unmount() {
	for _, n := range c.Nodes {
		if n.mounted {
			if err := syscall.Unmount(n.DataDir, syscall.MNT_DETACH); err != nil {
				c.cfg.Log("unmount %s: %v", n.DataDir, err)
				continue
			}
			n.mounted = false
		}
	}
}

// Fill fills node i's disk: a file takes every free byte, so that the
// node's next write of the raft log, a snapshot or the audit log fails
// with ENOSPC.
func (c *Cluster) Fill(i int) error {
	n := c.Nodes[i]
	if !n.mounted {
		return fmt.Errorf("%s has no disk of its own to fill", n.ID)
	}
	f, err := os.OpenFile(filepath.Join(n.DataDir, fillName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			return fmt.Errorf("fill %s: %w", n.ID, err)
		}
	}
	// Smaller writes take the last partial megabyte.
	for _, size := range []int{64 << 10, 4 << 10, 512} {
		for {
			if _, err := f.Write(buf[:size]); err != nil {
				break
			}
		}
	}
	return nil
}

// Free gives node i its disk space back.
func (c *Cluster) Free(i int) error {
	err := os.Remove(filepath.Join(c.Nodes[i].DataDir, fillName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// DiskFree returns the free bytes of node i's disk.
func (c *Cluster) DiskFree(i int) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.Nodes[i].DataDir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// SetFailpoints replaces node i's fault points with spec (lines of
// name=action, after the base lines); "" leaves only the base.
func (c *Cluster) SetFailpoints(i int, spec string) error {
	n := c.Nodes[i]
	if n.failpoints == "" {
		return fmt.Errorf("%s has no fault points (the cell was started without them)", n.ID)
	}
	text := c.cfg.FailpointBase + "\n" + spec + "\n"
	tmp := n.failpoints + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	// A new mtime even within the clock's granularity: the node rereads
	// the file when its size or mtime changes.
	now := time.Now()
	if st, err := os.Stat(n.failpoints); err == nil && !now.After(st.ModTime()) {
		now = st.ModTime().Add(time.Millisecond)
	}
	if err := os.Chtimes(tmp, now, now); err != nil {
		return err
	}
	return os.Rename(tmp, n.failpoints)
}

// WaitExit waits up to d for node i's process to exit (a crash point it
// reached) and says whether it did.
func (c *Cluster) WaitExit(i int, d time.Duration) bool {
	p := c.Nodes[i].process()
	return p == nil || p.Wait(d)
}

// JoinCrashing has the wiped node i join again with its current fault
// points, expecting it to crash during the join (a fault point of the
// first start); it returns nil if the process exited. The node stays
// wiped: Rejoin brings it back.
func (c *Cluster) JoinCrashing(ctx context.Context, i int) error {
	err := c.rejoinOnce(ctx, i, 1)
	if c.Nodes[i].Running() {
		_ = c.Kill(i)
		return fmt.Errorf("%s joined without reaching its fault point (%v)", c.Nodes[i].ID, err)
	}
	return nil
}

// AuditDir is node i's audit log directory.
func (c *Cluster) AuditDir(i int) string { return filepath.Join(c.Nodes[i].DataDir, "audit") }

// DataDir is node i's data dir.
func (c *Cluster) DataDir(i int) string { return c.Nodes[i].DataDir }
