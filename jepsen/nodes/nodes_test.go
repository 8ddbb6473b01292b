package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWipeDirKeepsOnlyTheLog(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"node.log", "raft/raft.db", "hsm/unseal.key", "node/cert.pem", "admin/key.pem"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := wipeDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"node.log"}) {
		t.Fatalf("left %v, want only node.log", left)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "node.log")); string(b) != "node.log" {
		t.Fatalf("the log changed: %q", b)
	}
}

func TestCopyDir(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "admin")
	files := map[string]string{"ca.pem": "ca", "cert.pem": "cert", "key.pem": "key"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyDir(src, dst); err != nil {
		t.Fatal(err)
	}
	// The copy survives the source being wiped.
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != body {
			t.Fatalf("%s: %q, %v; want %q", name, b, err, body)
		}
	}
}

// viaFake names each proxy after its link.
type viaFake struct{}

func (viaFake) Via(from, to int, addr string) (string, error) {
	return fmt.Sprintf("p%d%d/%s", from, to, addr), nil
}

func TestPeerMaps(t *testing.T) {
	nodes := []*Node{
		{ID: "n1", Index: 0, APIAddr: "127.0.0.1:100", RaftAddr: "127.0.0.1:101"},
		{ID: "n2", Index: 1, APIAddr: "127.0.0.1:110", RaftAddr: "127.0.0.1:111"},
		{ID: "n3", Index: 2, APIAddr: "127.0.0.1:120", RaftAddr: "127.0.0.1:121"},
	}
	if err := setPeerMaps(nodes, viaFake{}); err != nil {
		t.Fatal(err)
	}
	// Every peer address, none of the node's own, through its link's proxy.
	want := "127.0.0.1:100=p10/127.0.0.1:100,127.0.0.1:101=p10/127.0.0.1:101," +
		"127.0.0.1:120=p12/127.0.0.1:120,127.0.0.1:121=p12/127.0.0.1:121"
	if nodes[1].peerMap != want {
		t.Fatalf("n2's map %q, want %q", nodes[1].peerMap, want)
	}
}
