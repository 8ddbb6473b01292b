package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Failpoint cells move the data dir beside the log and the control file,
// and each rewrite of the control file keeps the base lines and changes
// its mtime, so that the node rereads it even at the same size.
func TestFailpointFiles(t *testing.T) {
	dir := t.TempDir()
	c := &Cluster{cfg: Config{Failpoints: true, FailpointBase: "audit-max-file-bytes=4096", Log: func(string, ...any) {}}}
	for i := range 2 {
		c.Nodes = append(c.Nodes, &Node{ID: fmt.Sprintf("n%d", i+1), Index: i, DataDir: filepath.Join(dir, "n"+string(rune('1'+i)))})
	}
	if err := c.prepareDisks(); err != nil {
		t.Fatal(err)
	}
	n := c.Nodes[1]
	if n.DataDir != filepath.Join(dir, "n2", "data") || n.LogPath != filepath.Join(dir, "n2", "node.log") {
		t.Fatalf("data dir %s, log %s", n.DataDir, n.LogPath)
	}
	read := func() (string, time.Time) {
		b, err := os.ReadFile(n.failpoints)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(n.failpoints)
		return string(b), st.ModTime()
	}
	if got, _ := read(); got != "audit-max-file-bytes=4096\n\n" {
		t.Fatalf("base control file %q", got)
	}
	if err := c.SetFailpoints(1, "audit-write=crash"); err != nil {
		t.Fatal(err)
	}
	got, first := read()
	if got != "audit-max-file-bytes=4096\naudit-write=crash\n" {
		t.Fatalf("control file %q", got)
	}
	if err := c.SetFailpoints(1, "audit-fsync=crash"); err != nil { // same size
		t.Fatal(err)
	}
	if _, second := read(); !second.After(first) {
		t.Fatalf("mtime %v did not move past %v", second, first)
	}
	if err := c.Fill(1); err == nil {
		t.Fatal("Fill of a node without a disk of its own succeeded")
	}
}
