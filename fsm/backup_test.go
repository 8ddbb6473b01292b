package fsm

import (
	"bytes"
	"testing"
)

// TestGraftTakesTheDataAndKeepsTheCluster: a backup grafted onto a
// cluster's state gives its keys, grants and users, keeps the cluster's
// identity, and keeps the revocations of both.
func TestGraftTakesTheDataAndKeepsTheCluster(t *testing.T) {
	src := New()
	applyAll(t, src, goldenLog()...)
	applyAll(t, src, revoke("0a"))
	backup := snapshotBytes(t, src)

	dst := New()
	applyAll(t, dst, &InitCluster{Info: ClusterInfo{ID: "trent-new", Region: "us-east-1", CACert: []byte("new-ca")}},
		create("key-gone"), revoke("0b"))
	cur, err := dst.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cur.Graft(bytes.NewReader(backup), 100, &out); err != nil {
		t.Fatal(err)
	}
	got := New()
	if err := got.Restore(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got.AppliedIndex() != 100 {
		t.Errorf("applied %d, want 100", got.AppliedIndex())
	}
	if c := got.Cluster(); c == nil || c.ID != "trent-new" {
		t.Errorf("cluster %+v, want the target's", c)
	}
	if _, ok := got.Key("key-gone"); ok {
		t.Error("a key of the target survived the restore")
	}
	if got.KeyCount() != src.KeyCount() {
		t.Errorf("%d keys, want the backup's %d", got.KeyCount(), src.KeyCount())
	}
	n, err := CountSnapshot(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := CountSnapshot(bytes.NewReader(backup))
	if n.Grants != want.Grants || n.Users != want.Users || n.AccessKeys != want.AccessKeys {
		t.Errorf("counts %+v, want the backup's %+v", n, want)
	}
	revoked := map[string]bool{}
	for _, c := range got.RevokedCerts("", true) {
		revoked[c.Serial] = true
	}
	if !revoked["0a"] || !revoked["0b"] {
		t.Errorf("revoked %v, want both 0a and 0b", revoked)
	}
}

func TestGraftRefusesABadBackup(t *testing.T) {
	cur, _ := New().Snapshot()
	var out bytes.Buffer
	if err := cur.Graft(bytes.NewReader([]byte("TRENTFSM\x00\x00\x00\x01{\"applied\":1}\n")), 5, &out); err == nil || out.Len() != 0 {
		t.Fatalf("grafted a truncated backup: %v, wrote %d bytes", err, out.Len())
	}
}
