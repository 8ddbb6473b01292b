package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gossip"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// waitUntil waits until cond holds, failing the test at the deadline. The
// conditions of these tests follow gossip and the leader's reconciler,
// which no apply announces: it is waitFor's bounded poll.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, 45*time.Second, holds(cond))
}

func (c *testCluster) admin(t *testing.T, s *server.Server) clusterv1connect.ClusterServiceClient {
	return clusterv1connect.NewClusterServiceClient(adminHTTP(t, c.adminDir), "https://"+s.APIAddr())
}

// statusOf returns s's view of the cluster, or nil if it did not answer.
func (c *testCluster) statusOf(t *testing.T, s *server.Server) *clusterv1.StatusResponse {
	st, err := c.admin(t, s).Status(context.Background(), &clusterv1.StatusRequest{})
	if err != nil {
		return nil
	}
	return st
}

func byID(st *clusterv1.StatusResponse) map[string]*clusterv1.NodeStatus {
	out := map[string]*clusterv1.NodeStatus{}
	for _, n := range st.GetNodes() {
		out[n.Id] = n
	}
	return out
}

func TestGossipSeesEveryMember(t *testing.T) {
	c := startCluster(t)
	for i, s := range c.nodes {
		waitUntil(t, "every node sees three alive members with their gossip addresses", func() bool {
			st := c.statusOf(t, s)
			if st == nil || len(st.Nodes) != 3 {
				return false
			}
			for _, n := range st.Nodes {
				if n.Health != "alive" || n.GossipAddr == "" || n.ApiAddr == "" {
					return false
				}
			}
			return true
		})
		st := c.statusOf(t, s)
		self := st.Self
		if self.Id != []string{"n1", "n2", "n3"}[i] || self.Term == 0 || self.AppliedIndex == 0 || self.Sealed ||
			self.GossipAddr != s.GossipAddr() || self.ApiAddr != s.APIAddr() {
			t.Fatalf("node %d reports itself as %v", i, self)
		}
	}
}

func TestRestartedNodeRejoinsOnNewAddresses(t *testing.T) {
	c := startCluster(t)
	old := c.nodes[2]
	dir, oldAPI := old.DataDir(), old.APIAddr()
	waitUntil(t, "n3 is in gossip", func() bool {
		n := byID(c.statusOf(t, c.nodes[0]))["n3"]
		return n != nil && n.GossipAddr != "" && n.Health == "alive"
	})
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	// Left, normally; dead if a loaded machine lost the leave message
	// (package gossip tests which is which). Either lets n3 take its
	// name back from a new address.
	waitUntil(t, "n1 sees n3 gone", func() bool {
		h := byID(c.statusOf(t, c.nodes[0]))["n3"].GetHealth()
		return h == "left" || h == "dead"
	})
	// No --join: the node finds the cluster through the gossip peers it
	// saved, and every port is new (port 0), so the leader must learn its
	// new raft address from gossip, verified over TLS, for it to catch up.
	n3, err := server.Start(context.Background(), c.config(dir, "n3", nil, ""))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	c.nodes[2] = n3
	if n3.APIAddr() == oldAPI {
		t.Fatal("the test needs a new address")
	}
	waitUntil(t, "the leader has n3's new addresses", func() bool {
		n := byID(c.statusOf(t, c.nodes[0]))["n3"]
		return n != nil && n.ApiAddr == n3.APIAddr() && n.GossipAddr == n3.GossipAddr() && n.Health == "alive"
	})
	ctx := context.Background()
	ck, err := c.kms(t, 2).CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "after restart"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.kms(t, 0).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveNode(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	// Through a follower, which forwards to the leader.
	via := c.admin(t, c.nodes[1])
	if _, err := via.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "nobody"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := via.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "bad id!"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad id: %v", err)
	}
	// Only the admin may remove.
	_, bobHTTP := c.principalHTTP(t, "arn:aws:iam::111122223333:user/bob")
	asBob := clusterv1connect.NewClusterServiceClient(bobHTTP, "https://"+c.nodes[1].APIAddr())
	if _, err := asBob.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n3"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("bob removed a node: %v", err)
	}
	if _, err := via.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n3"}); err != nil {
		t.Fatal(err)
	}
	st := c.statusOf(t, c.nodes[0])
	if _, ok := byID(st)["n3"]; ok || len(st.Nodes) != 2 {
		t.Fatalf("n3 is still a member: %v", st.Nodes)
	}
	// The two left still write. n3 still runs, with the old gossip key: the
	// removal replaced the key, so gossip loses n3, and does not add it back.
	if _, err := c.kms(t, 1).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	for i, s := range c.nodes[:2] {
		waitUntil(t, fmt.Sprintf("n%d's gossip loses n3", i+1), func() bool {
			for _, m := range s.GossipMembers() {
				if m.Name == "n3" {
					return m.Health == gossip.Dead
				}
			}
			return false
		})
	}
	waitUntil(t, "n1 and n2 gossip with each other under the new key", func() bool {
		for i, s := range c.nodes[:2] {
			for _, m := range s.GossipMembers() {
				if m.Name == []string{"n2", "n1"}[i] && m.Health != gossip.Alive {
					return false
				}
			}
		}
		return true
	})
	if st := c.statusOf(t, c.nodes[0]); len(st.Nodes) != 2 {
		t.Fatalf("gossip re-added a removed node: %v", st.Nodes)
	}
	// n3's node certificate was revoked with its removal: the gate
	// refuses it on every route.
	pool, _, err := identity.LoadCredentials(filepath.Join(c.adminDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	n3cert, err := tls.LoadX509KeyPair(filepath.Join(c.nodes[2].DataDir(), "node", "cert.pem"), filepath.Join(c.nodes[2].DataDir(), "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	noop, _ := fsm.Encode(&fsm.Noop{})
	asN3 := clusterv1connect.NewClusterServiceClient(httpClient(identity.ClientTLSConfig(pool, n3cert)), "https://"+c.nodes[0].APIAddr())
	if _, err := asN3.Apply(ctx, &clusterv1.ApplyRequest{Command: noop, Hops: 1}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a removed node's revoked certificate proposed a write: %v", err)
	}
	// A valid node certificate for n3 that was never recorded (so never
	// revoked: a node removed before serials were recorded) passes the
	// gate, but n3 is no member: it can neither propose a write nor ask
	// for a read index.
	key, err := identity.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	der, err := dataDirCA(t, c.adminDir).IssueNode("n3", identity.LoopbackHosts(), key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	asN3 = clusterv1connect.NewClusterServiceClient(httpClient(identity.ClientTLSConfig(pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})),
		"https://"+c.nodes[0].APIAddr())
	if _, err := asN3.Apply(ctx, &clusterv1.ApplyRequest{Command: noop, Hops: 1}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a removed node proposed a write: %v", err)
	}
	if _, err := asN3.ReadIndex(ctx, &clusterv1.ReadIndexRequest{}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a removed node asked for a read index: %v", err)
	}
}

func TestDeadServerCleanup(t *testing.T) {
	c := startCluster(t, func(cfg *server.Config) {
		cfg.DeadServerCleanup = server.Duration(300 * time.Millisecond)
		cfg.CleanupMinVoters = 2
	})
	waitUntil(t, "n1 sees n3 in gossip", func() bool { return byID(c.statusOf(t, c.nodes[0]))["n3"].GetHealth() == "alive" })
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the leader removes n3", func() bool {
		st := c.statusOf(t, c.nodes[0])
		_, ok := byID(st)["n3"]
		return st != nil && !ok && len(st.Nodes) == 2
	})
	if _, err := c.kms(t, 1).CreateKey(context.Background(), &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestAnotherClustersGossipDoesNotMerge(t *testing.T) {
	a := start(t, t.TempDir())
	defer a.Close()
	dirB := t.TempDir()
	b := start(t, dirB)
	// B "remembers" A as a gossip peer and rejoins it at restart: another
	// key and another label (cluster id), so nothing merges.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	peers, _ := json.Marshal([]string{a.GossipAddr()})
	if err := os.WriteFile(filepath.Join(dirB, "gossip", "peers.json"), peers, 0o600); err != nil {
		t.Fatal(err)
	}
	b = start(t, dirB)
	defer b.Close()
	for _, s := range []*server.Server{a, b} {
		if m := s.GossipMembers(); len(m) != 1 {
			t.Fatalf("gossip merged two clusters: %v", m)
		}
	}
}

func TestRaftPortRefusesAClientCertificate(t *testing.T) {
	c := startCluster(t)
	st := c.statusOf(t, c.nodes[1])
	pool, cert, err := identity.LoadCredentials(filepath.Join(c.adminDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"}
	conn, err := tls.Dial("tcp", st.Self.RaftAddr, cfg)
	if err == nil {
		// TLS 1.3 reports the server's refusal of the client certificate
		// on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the raft port accepted the admin's client certificate: %v", err)
	}
}

// startForming starts n1 of a cluster that waits for three voters
// (--bootstrap-expect 3); nodes the test adds to c close with it.
func startForming(t *testing.T) *testCluster {
	t.Helper()
	first := t.TempDir()
	c := &testCluster{adminDir: first, opts: []func(*server.Config){func(cfg *server.Config) {
		if cfg.NodeID == "n1" {
			cfg.BootstrapExpect = 3
		}
	}}}
	n1, err := server.Start(context.Background(), c.config(first, "n1", nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n1)
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Close()
		}
	})
	return c
}

func TestBootstrapExpectWaitsForTheVoters(t *testing.T) {
	c := startForming(t)
	n1, first := c.nodes[0], c.adminDir
	ctx := context.Background()
	for i, id := range []string{"n2", "n3"} {
		_, err := c.kms(t, 0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
		n, err := server.Start(ctx, c.config(t.TempDir(), id, []string{n1.APIAddr()}, joinToken(t, n1, first)))
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		c.nodes = append(c.nodes, n)
	}
	waitUntil(t, "the cluster of three serves writes", func() bool {
		_, err := c.kms(t, 2).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		return err == nil
	})
}

func TestMembershipFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(server.Config) bool
	}{
		{"defaults", nil, "", func(c server.Config) bool {
			return c.GossipAddr == "127.0.0.1:7702" && c.DeadServerCleanup == 0 && c.BootstrapExpect == 0
		}},
		{"set", []string{"--gossip-addr", "10.0.0.1:7702", "--dead-server-cleanup", "30m", "--cleanup-min-voters", "5", "--bootstrap-expect", "3"}, "",
			func(c server.Config) bool {
				return c.GossipAddr == "10.0.0.1:7702" && c.DeadServerCleanup == server.Duration(30*time.Minute) && c.CleanupMinVoters == 5 && c.BootstrapExpect == 3
			}},
		{"bad gossip addr", []string{"--gossip-addr", "nowhere"}, "--gossip-addr", nil},
		{"negative cleanup", []string{"--dead-server-cleanup", "-1s"}, "--dead-server-cleanup", nil},
		{"expect with join", []string{"--bootstrap-expect", "3", "--join", "127.0.0.1:7700", "--join-token", "x"}, "--bootstrap-expect", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := server.ParseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("got %+v, %v", cfg, err)
			}
		})
	}
}

func TestRestartedSingleNodeFixesItsOwnRaftAddress(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	old := s.APIAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = start(t, dir) // port 0: new addresses
	defer s.Close()
	if s.APIAddr() == old {
		t.Fatal("the test needs a new address")
	}
	c := &testCluster{adminDir: dir}
	waitUntil(t, "the raft configuration has the node's new raft address", func() bool {
		st := c.statusOf(t, s)
		return st != nil && len(st.Nodes) == 1 && st.Nodes[0].RaftAddr == st.Self.RaftAddr && st.Nodes[0].ApiAddr == s.APIAddr()
	})
}

// A removed node that lost its disk comes back as a new member under the
// same id: a fresh join token, a fresh node certificate and domain key, an
// InstallSnapshot or log replay, and it serves what was written while it
// was gone.
func TestRemovedAndWipedNodeRejoins(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	oldSerial := nodeSerial(t, c.nodes[2])
	if _, err := c.admin(t, c.nodes[0]).RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n3"}); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(c.nodes[2].DataDir()); err != nil {
		t.Fatal(err)
	}
	admin := adminHTTP(t, c.adminDir)
	w := withHeaders(admin)
	ck, err := kmsVia(c.nodes[0], w).CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "while n3 was gone"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := joinConfig(c.nodes[2].DataDir(), "n3", []string{c.nodes[1].APIAddr()}, joinToken(t, c.nodes[0], c.adminDir))
	back, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("re-add the wiped node: %v", err)
	}
	c.nodes[2] = back
	waitUntil(t, "n3 is a voter again", func() bool {
		n := byID(c.statusOf(t, c.nodes[0]))["n3"]
		return n != nil && n.Voter
	})
	// Revocation is per certificate, membership per id: the old
	// certificate stays revoked, the new one under the same id works.
	revoked := c.revoked(t)
	if newSerial := nodeSerial(t, back); newSerial == oldSerial || revoked[newSerial] || !revoked[oldSerial] {
		t.Fatalf("old certificate %s revoked: %v; new certificate %s revoked: %v", oldSerial, revoked[oldSerial], newSerial, revoked[newSerial])
	}
	seen := withHeaders(admin, "Trent-Min-Index", w.last().Get("Trent-Applied-Index"))
	d, err := kmsVia(back, seen).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId})
	if err != nil || d.KeyMetadata.Description != "while n3 was gone" {
		t.Fatalf("the re-added node does not serve a write made while it was gone: %v", err)
	}
	// Its new HSM holds the domain key: it decrypts what another node encrypted.
	enc, err := kmsVia(c.nodes[0], admin).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kmsVia(back, admin).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("decrypt on the re-added node: %v", err)
	}
}
