package cluster

import (
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
