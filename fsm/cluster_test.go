package fsm

import (
	"bytes"
	"io"
	"testing"
)

func TestJoinTokensAreSpentOnceBeforeExpiry(t *testing.T) {
	t.Parallel()
	add := func(id string, expires int64) Command {
		return &AddJoinToken{Token: JoinToken{ID: id, Hash: []byte("h-" + id), ExpiresAt: expires}}
	}
	consume := func(id, hash string, now int64) Command {
		return &ConsumeJoinToken{ID: id, Hash: []byte(hash), Now: now}
	}
	tests := []struct {
		name    string
		setup   []Command
		cmd     Command
		wantErr bool
	}{
		{"valid", []Command{add("a", 100)}, consume("a", "h-a", 50), false},
		{"wrong secret", []Command{add("a", 100)}, consume("a", "h-b", 50), true},
		{"unknown id", []Command{add("a", 100)}, consume("b", "h-b", 50), true},
		{"expired", []Command{add("a", 100)}, consume("a", "h-a", 100), true},
		{"reused", []Command{add("a", 100), consume("a", "h-a", 10)}, consume("a", "h-a", 20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tt.setup...)
			r := applyAll(t, f, tt.cmd)[0]
			if (r.Err != nil) != tt.wantErr {
				t.Fatalf("got %v, wantErr %v", r.Err, tt.wantErr)
			}
		})
	}
}

func TestSpendingATokenForgetsSpentAndExpiredOnes(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f,
		&AddJoinToken{Token: JoinToken{ID: "old", Hash: []byte("x"), ExpiresAt: 10}},
		&AddJoinToken{Token: JoinToken{ID: "live", Hash: []byte("y"), ExpiresAt: 1000}},
		&AddJoinToken{Token: JoinToken{ID: "used", Hash: []byte("z"), ExpiresAt: 1000}},
		&ConsumeJoinToken{ID: "used", Hash: []byte("z"), Now: 50},
	)
	if _, ok := f.cluster.tokens["old"]; ok {
		t.Fatal("an expired token was kept")
	}
	if _, ok := f.cluster.tokens["live"]; !ok {
		t.Fatal("a live token was dropped")
	}
}

func TestClusterRecordsSurviveSnapshot(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f,
		&InitCluster{Info: ClusterInfo{ID: "c1", Region: "us-east-1", CACert: []byte("pem")}},
		&RegisterNode{Node: NodeInfo{ID: "n1", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"}},
		&AddJoinToken{Token: JoinToken{ID: "t", Hash: []byte("h"), ExpiresAt: 9}},
	)
	// A second InitCluster with another id is refused; the same id is a retry.
	if r := applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c2"}})[0]; r.Err == nil {
		t.Fatal("cluster re-initialized")
	}
	want := snapshotBytes(t, f)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatal("cluster records do not round-trip")
	}
	if n, ok := g.Node("n1"); !ok || n.APIAddr != "127.0.0.1:2" || g.Cluster().ID != "c1" {
		t.Fatalf("restored %v %v", n, g.Cluster())
	}
}

func TestGossipKeyIsSetOnceAndNodesCanBeRemoved(t *testing.T) {
	t.Parallel()
	setKey := func(b string) Command {
		return &SetGossipKey{Key: SealedSecret{Sealed: []byte(b)}}
	}
	tests := []struct {
		name       string
		cmds       []Command
		wantErr    bool
		wantSealed string
		wantNodes  int
	}{
		{"before init", []Command{setKey("a")}, true, "", 0},
		{"first wins", []Command{
			&InitCluster{Info: ClusterInfo{ID: "c1"}}, setKey("a"), setKey("b"),
		}, false, "a", 0},
		{"formed before init", []Command{&ClusterFormed{}}, true, "", 0},
		{"remove", []Command{
			&RegisterNode{Node: NodeInfo{ID: "n1", GossipAddr: "127.0.0.1:3"}},
			&RegisterNode{Node: NodeInfo{ID: "n2"}},
			&RemoveNode{ID: "n2"},
			&RemoveNode{ID: "absent"},
		}, false, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			rs := applyAll(t, f, tt.cmds...)
			if got := rs[len(rs)-1].Err != nil; got != tt.wantErr {
				t.Fatalf("last result %v, wantErr %v", rs[len(rs)-1].Err, tt.wantErr)
			}
			if tt.wantSealed != "" && string(f.Cluster().GossipKey.Sealed) != tt.wantSealed {
				t.Fatalf("gossip key %q, want %q", f.Cluster().GossipKey.Sealed, tt.wantSealed)
			}
			if len(f.Nodes()) != tt.wantNodes {
				t.Fatalf("nodes %v", f.Nodes())
			}
		})
	}
	// The key and the gossip address survive a snapshot.
	f := New()
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c1"}}, setKey("k"),
		&RegisterNode{Node: NodeInfo{ID: "n1", GossipAddr: "127.0.0.1:3"}})
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if n, _ := g.Node("n1"); n.GossipAddr != "127.0.0.1:3" || string(g.Cluster().GossipKey.Sealed) != "k" {
		t.Fatalf("restored %v %v", n, g.Cluster().GossipKey)
	}
}

func TestClusterFormedIsALatch(t *testing.T) {
	t.Parallel()
	f := New()
	formed := &ClusterFormed{}
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c1", BootstrapExpect: 3}})
	if f.Cluster().Formed {
		t.Fatal("formed at init")
	}
	for range 2 {
		if r := applyAll(t, f, formed)[0]; r.Err != nil || !f.Cluster().Formed || f.Cluster().BootstrapExpect != 3 {
			t.Fatalf("%v %+v", r.Err, f.Cluster())
		}
	}
}

// A removed member's node certificates go on the deny list in the same
// command that removes it, at the proposer's time; a member re-added under
// the same id has a new certificate, which is not revoked.
func TestRemovingANodeRevokesItsCertificates(t *testing.T) {
	t.Parallel()
	register := func(id, serial string) Command {
		return &RegisterNode{Node: NodeInfo{ID: id}, CertSerial: serial}
	}
	f := New()
	applyAll(t, f,
		register("n2", "a1"), register("n2", "a1"), // a retry records it once
		&RegisterNode{Node: NodeInfo{ID: "n2", APIAddr: "127.0.0.1:2"}}, // an address update keeps it
		register("n2", "b2"), register("n3", "c3"))
	if got := f.NodeCerts("n2"); len(got) != 2 || got[0] != "a1" || got[1] != "b2" {
		t.Fatalf("n2's certificates %v, want [a1 b2]", got)
	}
	if r := applyAll(t, f, register("n2", "0xAB"))[0]; r.Err == nil {
		t.Fatal("a serial that is not lowercase hex was recorded")
	}
	if f.CertRevoked("a1") || f.CertRevoked("b2") {
		t.Fatal("a member's certificate is revoked")
	}

	// The snapshot keeps the recorded serials.
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if got := g.NodeCerts("n2"); len(got) != 2 {
		t.Fatalf("restored n2's certificates %v", got)
	}

	for _, s := range []*FSM{f, g} {
		applyAll(t, s, &RemoveNode{ID: "n2", Now: 1234})
		for _, sn := range []string{"a1", "b2"} {
			if !s.CertRevoked(sn) {
				t.Fatalf("removed n2's certificate %s is not revoked", sn)
			}
		}
		if s.CertRevoked("c3") || len(s.NodeCerts("n2")) != 0 {
			t.Fatalf("n3 revoked %v, n2 still has %v", s.CertRevoked("c3"), s.NodeCerts("n2"))
		}
		rs := s.RevokedCerts("", true)
		if len(rs) != 2 || rs[0].RevokedAt != 1234 || rs[0].Principal != "trent://node/n2" {
			t.Fatalf("deny list %+v", rs)
		}
		// Rejoined under the same id, with a new certificate.
		applyAll(t, s, register("n2", "d4"))
		if s.CertRevoked("d4") || !s.CertRevoked("a1") {
			t.Fatal("the rejoined node's new certificate is revoked, or its old one is not")
		}
	}
}

// SetGossipKey keeps the first key, unless it is a replacement (proposed
// after a member is removed).
func TestAGossipKeyIsReplacedOnlyOnPurpose(t *testing.T) {
	t.Parallel()
	set := func(sealed string, replace bool) Command {
		return &SetGossipKey{Key: SealedSecret{Sealed: []byte(sealed)}, Replace: replace}
	}
	f := New()
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c1"}})
	applyAll(t, f, set("k1", true), set("k0", false))
	if got := string(f.Cluster().GossipKey.Sealed); got != "k1" {
		t.Fatalf("gossip key %q, want the first, k1", got)
	}
	before := f.Cluster()
	applyAll(t, f, set("k2", true))
	if got := string(f.Cluster().GossipKey.Sealed); got != "k2" || string(before.GossipKey.Sealed) != "k1" {
		t.Fatalf("gossip key %q, want k2 (published info changed to %q)", got, before.GossipKey.Sealed)
	}
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if got := string(g.Cluster().GossipKey.Sealed); got != "k2" {
		t.Fatalf("restored gossip key %q", got)
	}
}
