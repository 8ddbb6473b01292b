package server_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/faultnet"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// startFaultyCluster starts three nodes whose node-to-node connections go
// through a faultnet.Net.
func startFaultyCluster(t *testing.T) (*testCluster, *faultnet.Net) {
	t.Helper()
	fn := faultnet.New()
	c := startCluster(t, func(cfg *server.Config) { cfg.Testing.Dial = fn.Dialer(cfg.NodeID) })
	for i, n := range c.nodes {
		fn.Register(c.configs[i].NodeID, n.APIAddr(), n.RaftAddr())
	}
	return c, fn
}

// A follower cut off from both peers (but not from clients) serves
// bounded reads only while they can still keep the promise: no read that
// starts more than max staleness after a write it cannot see is served.
// Its linearizable reads fail rather than lie. After the partition heals
// it serves the write.
func TestPartitionedFollowerNeverBreaksTheBound(t *testing.T) {
	c, fn := startFaultyCluster(t)
	ctx := context.Background()
	admin := adminHTTP(t, c.adminDir)
	w := withHeaders(admin)
	ck, err := kmsVia(c.nodes[0], w).CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "before"})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	seen := withHeaders(admin, "Trent-Min-Index", w.last().Get("Trent-Applied-Index"))
	if _, err := kmsVia(c.nodes[2], seen).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}

	fn.Isolate("n3", "n1", "n2")
	if _, err := kmsVia(c.nodes[0], admin).UpdateKeyDescription(ctx, &kmsv1.UpdateKeyDescriptionRequest{KeyId: keyID, Description: "after"}); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	const maxStaleness = time.Second

	hc := withHeaders(admin)
	cut := kmsVia(c.nodes[2], hc)
	var served, refused int
	for {
		start := time.Now()
		if start.Sub(acked) > 2*maxStaleness+time.Second {
			break
		}
		d, err := cut.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
		if err != nil {
			assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
			refused++
			continue
		}
		served++
		if d.KeyMetadata.Description == "after" {
			t.Fatal("a node cut off from the leader served a write made after the cut")
		}
		if start.Sub(acked) >= maxStaleness {
			t.Fatalf("served state without the write acknowledged %s before the read started (max staleness %s)", start.Sub(acked), maxStaleness)
		}
		if b := bound(t, hc.last()); b > maxStaleness {
			t.Fatalf("reported staleness bound %s above %s", b, maxStaleness)
		}
	}
	if refused == 0 {
		t.Fatal("the cut-off node never refused a bounded read")
	}
	t.Logf("cut-off node: %d reads served within the bound, %d refused", served, refused)

	lin := kmsVia(c.nodes[2], withHeaders(admin, "Trent-Consistency", "linearizable"))
	d, err := lin.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
	if err == nil && d.KeyMetadata.Description != "after" {
		t.Fatal("a linearizable read on the cut-off node returned stale state")
	}
	if err != nil {
		assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
	}

	fn.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := lin.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
		if err == nil {
			if d.KeyMetadata.Description != "after" {
				t.Fatalf("linearizable read after the heal: description %q", d.KeyMetadata.Description)
			}
			break
		}
		if connect.CodeOf(err) != connect.CodeUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the heal: %v", err)
		}
	}
}
