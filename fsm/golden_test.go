package fsm

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/policy"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/snapshot-v1.golden (only when adding a new format version)")

// goldenLog exercises every record kind of snapshot format version 1.
func goldenLog() []Command {
	grant := func(id, name string) Command {
		return &CreateGrant{MaxGrantsPerKey: 50_000, Grant: Grant{
			ID: id, KeyID: "key-a", Name: name, CreationDate: 1700000000000,
			GranteePrincipal: "arn:aws:iam::111122223333:user/bob", RetiringPrincipal: "arn:aws:iam::111122223333:role/ops",
			Operations: 0b101, Subset: map[string]string{"customerID": "3369"}, CreatedIndex: 4,
		}}
	}
	cmds := []Command{
		create("key-a"), create("key-b"), setEnabled("key-b", false),
		grant("aaaa000000000000000000000000000000000000000000000000000000000001", "nightly"),
		grant("aaaa000000000000000000000000000000000000000000000000000000000002", ""),
		&InitCluster{Info: ClusterInfo{ID: "trent-0011223344556677", Region: "us-east-1", CACert: []byte("ca-pem")}},
		&RegisterNode{Node: NodeInfo{ID: "n1", RaftAddr: "127.0.0.1:7701", APIAddr: "127.0.0.1:7700"}},
		&AddJoinToken{Token: JoinToken{ID: "tok1", Hash: []byte("hash"), ExpiresAt: 4102444800000}},
	}
	return append(cmds, iamLog()...)
}

// A snapshot written by the first release of format version 1 must
// restore in every later release: a cluster upgrades node by node, and a
// new node may be sent an old snapshot. The golden file is never
// regenerated for an existing version.
func TestRestoresAFormatV1SnapshotFromTheFirstRelease(t *testing.T) {
	path := filepath.Join("testdata", "snapshot-v1.golden")
	if *updateGolden {
		f := New()
		applyAll(t, f, goldenLog()...)
		if err := os.WriteFile(path, snapshotBytes(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore the v1 golden snapshot: %v", err)
	}
	if g.AppliedIndex() != uint64(len(goldenLog())) {
		t.Fatalf("applied index %d, want %d", g.AppliedIndex(), len(goldenLog()))
	}
	if k, ok := g.Key("key-b"); !ok || k.State != Disabled {
		t.Fatalf("key-b: %+v", k)
	}
	// The first release stored no key policies: restored keys get the
	// default key policy of their account.
	if k, _ := g.Key("key-a"); k.Policy != policy.DefaultKeyPolicy("111122223333") {
		t.Fatalf("key-a policy %q, want the default", k.Policy)
	}
	gr, ok := g.Grant("key-a", "aaaa000000000000000000000000000000000000000000000000000000000001")
	if !ok || gr.Name != "nightly" || gr.Subset["customerID"] != "3369" || gr.CreatedIndex != 4 {
		t.Fatalf("grant: %+v", gr)
	}
	if g.GrantCount("key-a") != 2 {
		t.Fatalf("%d grants on key-a, want 2", g.GrantCount("key-a"))
	}
	if n, ok := g.Node("n1"); !ok || n.APIAddr != "127.0.0.1:7700" || g.Cluster().ID != "trent-0011223344556677" {
		t.Fatalf("cluster records: %+v %+v", n, g.Cluster())
	}
	if _, ok := g.AccessKey("AKIA1"); !ok {
		t.Fatal("access key AKIA1 missing")
	}
	// The derived indexes were rebuilt: a Name retry finds the original
	// grant, and the state applies the same log as a fresh one.
	retry := goldenLog()[3].(*CreateGrant)
	retry.Grant.ID = "bbbb000000000000000000000000000000000000000000000000000000000009"
	r := applyAll(t, g, retry)[0]
	if r.Err != nil || !r.Existing || r.Grant.ID != "aaaa000000000000000000000000000000000000000000000000000000000001" {
		t.Fatalf("Name retry after restore: %+v", r)
	}
}
