package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// clockFile is node n's clock file (the node's --unsafe-clock-file) when
// the cluster's clocks can be moved (Config.ClockDir), else "". It lives
// outside the data dir, which a wipe deletes.
func (c *Cluster) clockFile(n *Node) string {
	if c.cfg.ClockDir == "" {
		return ""
	}
	return filepath.Join(c.cfg.ClockDir, n.ID)
}

// SetClock moves node i's time of day offset from the real one, from now
// on running at rate (1: the real speed). The node reads the file within
// a few milliseconds.
func (c *Cluster) SetClock(i int, offset time.Duration, rate float64) error {
	path := c.clockFile(c.Nodes[i])
	if path == "" {
		return fmt.Errorf("%s has no clock file (the cell has no clock faults)", c.Nodes[i].ID)
	}
	body := fmt.Sprintf("offset=%s rate=%g since=%d\n", offset, rate, time.Now().UnixNano())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
