package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/cluster"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// testCluster is three in-process nodes with real TLS on loopback.
type testCluster struct {
	nodes    []*server.Server
	configs  []server.Config // each node's, to restart it
	adminDir string
	opts     []func(*server.Config)
}

func (c *testCluster) config(dir, id string, join []string, token string) server.Config {
	cfg := joinConfig(dir, id, join, token)
	for _, o := range c.opts {
		o(&cfg)
	}
	return cfg
}

func joinConfig(dir, id string, join []string, token string) server.Config {
	cfg := testConfig(dir)
	// Three TLS nodes, the race detector and 2 cores: keep elections calm
	// (the leader steps down after RaftTimeout/2 without a quorum).
	cfg.Testing.RaftTimeout = 500 * time.Millisecond
	cfg.Testing.GossipProbeInterval = 100 * time.Millisecond
	cfg.Testing.MembershipInterval = 200 * time.Millisecond
	cfg.NodeID = id
	cfg.Join = join
	cfg.JoinToken = token
	return cfg
}

func joinToken(t testing.TB, s *server.Server, adminDir string) string {
	t.Helper()
	cl := clusterv1connect.NewClusterServiceClient(adminHTTPB(t, adminDir), "https://"+s.APIAddr())
	r, err := cl.CreateJoinToken(context.Background(), &clusterv1.CreateJoinTokenRequest{TtlSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	return r.Token
}

// startCluster starts n1, then n2 and n3 joining; opts adjust every
// node's configuration.
func startCluster(t testing.TB, opts ...func(*server.Config)) *testCluster {
	t.Helper()
	return startClusterAt(t, t.TempDir(), opts...)
}

// startClusterAt is startCluster with n1's data directory first, which
// may hold an HSM state already (a restore's domain key).
func startClusterAt(t testing.TB, first string, opts ...func(*server.Config)) *testCluster {
	t.Helper()
	c := &testCluster{adminDir: first, opts: opts}
	config := func(dir, id string, join []string, token string) server.Config {
		cfg := c.config(dir, id, join, token)
		c.configs = append(c.configs, cfg)
		return cfg
	}
	n1, err := server.Start(context.Background(), config(first, "n1", nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n1)
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Close()
		}
	})
	// n2 joins through the leader, n3 through n2 (a follower forwards it).
	for i, via := range []*server.Server{n1, nil} {
		if via == nil {
			via = c.nodes[1]
		}
		id := []string{"n2", "n3"}[i]
		n, err := server.Start(context.Background(), config(t.TempDir(), id, []string{via.APIAddr()}, joinToken(t, n1, first)))
		if err != nil {
			t.Fatalf("%s join: %v", id, err)
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

func (c *testCluster) kms(t *testing.T, i int) kmsv1connectClient {
	return client(t, c.nodes[i], adminHTTP(t, c.adminDir))
}

type kmsv1connectClient = interface {
	CreateKey(context.Context, *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error)
	DescribeKey(context.Context, *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error)
	Encrypt(context.Context, *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error)
	Decrypt(context.Context, *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error)
	CreateGrant(context.Context, *kmsv1.CreateGrantRequest) (*kmsv1.CreateGrantResponse, error)
}

func TestClusterFormsAndServesFromEveryNode(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	st, err := clusterv1connect.NewClusterServiceClient(adminHTTP(t, c.adminDir), "https://"+c.nodes[2].APIAddr()).
		Status(ctx, &clusterv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, n := range st.Nodes {
		if n.Voter {
			voters++
		}
		if n.ApiAddr == "" {
			t.Fatalf("node %s has no API address", n.Id)
		}
	}
	if len(st.Nodes) != 3 || voters != 3 {
		t.Fatalf("status %v", st)
	}

	// A write through a follower is forwarded, and the follower reads it at once.
	for i := range c.nodes {
		k := c.kms(t, i)
		ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "via node"})
		if err != nil {
			t.Fatalf("CreateKey via node %d: %v", i, err)
		}
		if _, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
			t.Fatalf("read-your-write on node %d: %v", i, err)
		}
		// Encrypt on this node, decrypt on the next: every HSM holds the domain key.
		enc, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("replicated")})
		if err != nil {
			t.Fatal(err)
		}
		// The next node may still be applying the key: wait until it has
		// applied everything this node has (the key included).
		waitApplied(t, 10*time.Second, c.nodes[i].AppliedIndex(), c.nodes[(i+1)%3])
		dec, err := c.kms(t, (i+1)%3).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "replicated" {
			t.Fatalf("decrypt on node %d: %v", (i+1)%3, err)
		}
	}
}

func TestJoinTokensAreOneTimeAndChecked(t *testing.T) {
	c := startCluster(t)
	n1 := c.nodes[0]
	tok := joinToken(t, n1, c.adminDir)
	n4, err := server.Start(context.Background(), joinConfig(t.TempDir(), "n4", []string{n1.APIAddr()}, tok))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n4)
	// Reused.
	if _, err := server.Start(context.Background(), joinConfig(t.TempDir(), "n5", []string{n1.APIAddr()}, tok)); connect.CodeOf(err) != connect.CodePermissionDenied ||
		connectMessage(err) != "the join token was already used" {
		t.Fatalf("reused token: %v", err)
	}
	// Forged secret, same id and pin.
	fresh := joinToken(t, n1, c.adminDir)
	parts := strings.Split(fresh, ".")
	parts[2] = strings.Repeat("A", len(parts[2]))
	if _, err := server.Start(context.Background(), joinConfig(t.TempDir(), "n6", []string{n1.APIAddr()}, strings.Join(parts, "."))); connect.CodeOf(err) != connect.CodePermissionDenied ||
		!strings.Contains(connectMessage(err), "not valid") {
		t.Fatalf("forged token: %v", err)
	}
	// A pin for another CA: the joiner refuses to talk to this cluster.
	parts = strings.Split(fresh, ".")
	parts[3] = strings.Repeat("0", 64)
	if _, err := server.Start(context.Background(), joinConfig(t.TempDir(), "n7", []string{n1.APIAddr()}, strings.Join(parts, "."))); !errors.Is(err, cluster.ErrCAMismatch) {
		t.Fatalf("wrong pin: %v", err)
	}
	// The unused fresh token still works after those failures.
	n8, err := server.Start(context.Background(), joinConfig(t.TempDir(), "n8", []string{n1.APIAddr()}, fresh))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n8)
}

func TestClientCertificateIsNotANodeCertificate(t *testing.T) {
	c := startCluster(t)
	// The admin (a client certificate) calls the node-only Apply.
	cl := clusterv1connect.NewClusterServiceClient(adminHTTP(t, c.adminDir), "https://"+c.nodes[0].APIAddr())
	_, err := cl.Apply(context.Background(), &clusterv1.ApplyRequest{Command: []byte{1, '{', '}'}})
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("got %v, want permission denied", err)
	}
	// And a non-root principal may not mint join tokens.
	asBob := clusterv1connect.NewClusterServiceClient(clientForPrincipal(t, c.nodes[0], c.adminDir, "arn:aws:iam::111122223333:user/bob"),
		"https://"+c.nodes[0].APIAddr())
	if _, err := asBob.CreateJoinToken(context.Background(), &clusterv1.CreateJoinTokenRequest{}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("bob minted a join token: %v", err)
	}
}

func TestGrantTokenWorksAtOnceOnAFollower(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	admin := c.kms(t, 0)
	ck, err := admin.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: ck.KeyMetadata.KeyId, GranteePrincipal: "arn:aws:iam::111122223333:user/bob",
		Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	_, bobHTTP := c.principalHTTP(t, "arn:aws:iam::111122223333:user/bob")
	for i := 1; i < 3; i++ {
		// With the token the follower waits until it has the grant.
		_, err := client(t, c.nodes[i], bobHTTP).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.Arn, Plaintext: []byte("x"),
			GrantTokens: []string{g.GrantToken}})
		if err != nil {
			t.Fatalf("token on follower %d: %v", i, err)
		}
	}
}

func TestLeaderLossKeepsAcknowledgedWrites(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		ck, err := c.kms(t, i%3).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ck.KeyMetadata.KeyId)
	}
	// n1 bootstrapped and leads; stop it.
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	survivor := c.kms(t, 1)
	var err error
	var ck *kmsv1.CreateKeyResponse
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) { // until the survivors elect a leader
		if ck, err = survivor.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err == nil {
			break
		}
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
			t.Fatalf("write during failover: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("no write after leader loss: %v", err)
	}
	ids = append(ids, ck.KeyMetadata.KeyId)
	// The survivor applied its own write, after every acknowledged one.
	waitApplied(t, 10*time.Second, c.nodes[1].AppliedIndex(), c.nodes[1], c.nodes[2])
	for _, id := range ids {
		for _, i := range []int{1, 2} {
			if _, err := c.kms(t, i).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
				t.Fatalf("key %s lost on node %d: %v", id, i, err)
			}
		}
	}
}

func TestNoQuorumAnswersRetryableErrorInBoundedTime(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background() // no deadline from the client
	for _, n := range c.nodes[:2] {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err := c.kms(t, 2).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	elapsed := time.Since(start)
	assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
	// The hold is 5s; allow generous slack for a loaded machine, but the
	// request must not wait for a leader forever.
	if elapsed > 30*time.Second {
		t.Fatalf("answered after %v", elapsed)
	}
}
