package server_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// A follower that was down while the leader compacted its log past the
// follower's last entry can only catch up through InstallSnapshot; after
// a restart it must serve every write made while it was down.
func TestLaggingFollowerCatchesUpThroughASnapshot(t *testing.T) {
	c := startCluster(t, func(cfg *server.Config) {
		cfg.SnapshotInterval = server.Duration(20 * time.Millisecond)
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 2
	})
	ctx := context.Background()
	lagger := c.nodes[2]
	cfg := c.configs[2]
	cfg.APIAddr, cfg.RaftAddr = lagger.APIAddr(), lagger.RaftAddr()
	stoppedAt := lagger.AppliedIndex()
	if err := lagger.Close(); err != nil {
		t.Fatal(err)
	}

	admin := adminHTTP(t, c.adminDir)
	leader := kmsVia(c.nodes[0], admin)
	var ids []string
	for range 40 {
		ck, err := leader.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ck.KeyMetadata.KeyId)
	}
	lastWrite := c.nodes[0].AppliedIndex()
	// The leader snapshots and compacts on its own schedule, which no apply
	// announces.
	waitFor(t, fmt.Sprintf("the leader compacts past index %d", stoppedAt), 30*time.Second, func() error {
		first, err := c.nodes[0].RaftFirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		if first <= stoppedAt+1 {
			return fmt.Errorf("first index %d", first)
		}
		return nil
	})

	back, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restart the lagging follower: %v", err)
	}
	c.nodes[2] = back
	// Read-your-writes at the last write's index, on the restarted node.
	hc := withHeaders(admin, "Trent-Min-Index", strconv.FormatUint(lastWrite, 10))
	for _, id := range ids {
		if _, err := kmsVia(back, hc).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
			t.Fatalf("key %s written while the follower was down: %v", id, err)
		}
	}
}
