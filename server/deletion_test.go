package server_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// A key scheduled for deletion through one leader is deleted when its
// waiting period ends by the leader elected after that one was killed,
// exactly once: every surviving node applies the deletion (and has its
// HSM forget the key) once. The killed node, down at the deadline and
// behind a compacted log, restarts without the key. On every node the
// key's id answers NotFoundException, its old ciphertext no longer
// decrypts, and its grants and aliases are gone. The clock is injected:
// the test moves it past the deadline instead of waiting seven days.
func TestDeletionSurvivesALeaderKillAndHappensOnce(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
		cfg.Testing.LifecycleInterval = 50 * time.Millisecond
		// The killed node catches up through a snapshot (Restore).
		cfg.SnapshotInterval = server.Duration(20 * time.Millisecond)
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := adminHTTP(t, c.adminDir)
	lin := withHeaders(admin, "Trent-Consistency", "linearizable")

	leader := c.leaderIndex(t)
	k := kmsVia(c.nodes[leader], lin)
	ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m := ck.KeyMetadata
	enc, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("payroll")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: "arn:aws:iam::111122223333:user/bob",
		Operations: []string{"Decrypt"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/doomed", TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	sk, err := k.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: proto32(7)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.UnixMilli(int64(sk.DeletionDate * 1000))

	// Kill the leader before the deadline; keep its configuration to
	// restart it on the same addresses.
	old := c.nodes[leader]
	cfg := c.configs[leader]
	cfg.APIAddr, cfg.RaftAddr = old.APIAddr(), old.RaftAddr()
	stoppedAt := old.AppliedIndex()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	var survivors []*server.Server
	for i, n := range c.nodes {
		if i != leader {
			survivors = append(survivors, n)
		}
	}
	// Before the deadline nothing happens, however many passes run.
	clock.Store(deadline.Add(-time.Second).UnixMilli())
	waitUntil(t, "a new leader serves the key", func() bool {
		d, err := kmsVia(survivors[0], lin).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
		return err == nil && d.KeyMetadata.KeyState == "PendingDeletion"
	})

	clock.Store(deadline.UnixMilli())
	waitFor(t, "the new leader deletes the key", 45*time.Second, func() error {
		_, err := kmsVia(survivors[0], lin).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
		if err == nil {
			return errNotYet
		}
		if connect.CodeOf(err) != connect.CodeNotFound {
			return err
		}
		return nil
	}, survivors...)
	// Later passes of the new leader, with the clock moving on, change
	// nothing: let a few run, then count.
	clock.Store(deadline.Add(48 * time.Hour).UnixMilli())
	var last uint64
	for range 20 { // write through the log, so passes interleave with entries
		if _, err := kmsVia(survivors[0], lin).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
			t.Fatal(err)
		}
		last = max(survivors[0].AppliedIndex(), survivors[1].AppliedIndex())
	}
	for i, n := range survivors {
		if err := n.WaitApplied(ctx, last); err != nil {
			t.Fatal(err)
		}
		if got := server.KeysForgotten(n); got != 1 {
			t.Errorf("survivor %d applied %d deletions, want exactly 1", i, got)
		}
	}

	// The killed node restarts behind a compacted log.
	waitFor(t, fmt.Sprintf("the leader compacts past index %d", stoppedAt), 30*time.Second, func() error {
		for _, n := range survivors {
			first, err := n.RaftFirstIndex()
			if err != nil {
				return err
			}
			if first <= stoppedAt+1 {
				return fmt.Errorf("first index %d", first)
			}
		}
		return nil
	})
	back, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restart the killed leader: %v", err)
	}
	c.nodes[leader] = back
	if err := back.WaitApplied(ctx, last); err != nil {
		t.Fatal(err)
	}

	for i, n := range c.nodes {
		assertDeleted(t, i, kmsVia(n, withHeaders(admin, "Trent-Min-Index", strconv.FormatUint(last, 10))), m, enc.CiphertextBlob, "alias/doomed")
	}

	// The deletion is in the audit trail once, as CloudTrail has it: a
	// service event on the trail of the leader that made it.
	events := 0
	for _, n := range c.nodes {
		dir := filepath.Join(n.DataDir(), "audit")
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range auditRecords(t, dir) {
			if r.EventType == "AwsServiceEvent" && r.EventName == "DeleteKey" && len(r.Resources) == 1 && r.Resources[0].ARN == m.Arn {
				events++
			}
		}
	}
	if events != 1 {
		t.Fatalf("%d DeleteKey service events in the audit trails, want 1", events)
	}
}

// A follower that was down when the leader deleted a key replays the
// deletion from the log when it restarts: it never serves the key, and
// its HSM is told to forget it.
func TestFollowerDownAtTheDeadlineDoesNotBringTheKeyBack(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
		cfg.Testing.LifecycleInterval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := adminHTTP(t, c.adminDir)
	lin := withHeaders(admin, "Trent-Consistency", "linearizable")
	leader := c.leaderIndex(t)
	k := kmsVia(c.nodes[leader], lin)
	ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m := ck.KeyMetadata
	enc, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("payroll")})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := k.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: proto32(30)})
	if err != nil {
		t.Fatal(err)
	}
	// Stop a follower once it has the schedule.
	f := (leader + 1) % len(c.nodes)
	follower := c.nodes[f]
	if err := follower.WaitApplied(ctx, c.nodes[leader].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	cfg := c.configs[f]
	cfg.APIAddr, cfg.RaftAddr = follower.APIAddr(), follower.RaftAddr()
	if err := follower.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(sk.DeletionDate*1000) + 1)
	waitFor(t, "the leader deletes the key", 45*time.Second, func() error {
		_, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
		switch {
		case err == nil:
			return errNotYet
		case connect.CodeOf(err) != connect.CodeNotFound:
			return err
		}
		return nil
	}, c.nodes[leader])
	last := c.nodes[leader].AppliedIndex()

	back, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restart the follower: %v", err)
	}
	c.nodes[f] = back
	if err := back.WaitApplied(ctx, last); err != nil {
		t.Fatal(err)
	}
	if got := server.KeysForgotten(back); got != 1 {
		t.Errorf("the restarted follower told its HSM to forget %d keys, want 1", got)
	}
	assertDeleted(t, f, kmsVia(back, withHeaders(admin, "Trent-Min-Index", strconv.FormatUint(last, 10))), m, enc.CiphertextBlob, "")
}

// assertDeleted checks that node answers for the deleted key m as AWS
// does for a key that does not exist, that blob (made under m) no longer
// decrypts, and that m's grants and its alias (if not "") are gone.
func assertDeleted(t *testing.T, node int, kn kmsv1connect.KeyManagementServiceClient, m *kmsv1.KeyMetadata, blob []byte, alias string) {
	t.Helper()
	ctx := context.Background()
	// A node that just restarted refuses reads (retryably) until it has
	// confirmed its state with the leader: wait for that as a client would.
	waitFor(t, fmt.Sprintf("node %d serves reads", node), 30*time.Second, func() error {
		_, err := kn.ListKeys(ctx, &kmsv1.ListKeysRequest{})
		return err
	})
	notFound := "Key '" + m.Arn + "' does not exist"
	_, err := kn.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	wantAWSMessage(t, node, err, "NotFoundException", notFound)
	_, err = kn.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob})
	wantAWSMessage(t, node, err, "AccessDeniedException", "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")
	_, err = kn.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob, KeyId: m.KeyId})
	wantAWSMessage(t, node, err, "NotFoundException", notFound)
	_, err = kn.ListGrants(ctx, &kmsv1.ListGrantsRequest{KeyId: m.KeyId})
	wantAWSMessage(t, node, err, "NotFoundException", notFound)
	ks, err := kn.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	if err != nil {
		t.Fatalf("node %d: ListKeys: %v", node, err)
	}
	for _, e := range ks.Keys {
		if e.KeyId == m.KeyId {
			t.Fatalf("node %d lists the deleted key", node)
		}
	}
	if alias == "" {
		return
	}
	_, err = kn.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: alias})
	wantAWSMessage(t, node, err, "NotFoundException", "Alias arn:aws:kms:us-east-1:111122223333:"+alias+" is not found.")
	as, err := kn.ListAliases(ctx, &kmsv1.ListAliasesRequest{})
	if err != nil || len(as.Aliases) != 0 {
		t.Errorf("node %d: aliases %v, %v", node, as.GetAliases(), err)
	}
}

// leaderIndex returns the index of the node that leads, as the nodes'
// cluster status reports it.
func (c *testCluster) leaderIndex(t *testing.T) int {
	t.Helper()
	leader := -1
	waitUntil(t, "a leader", func() bool {
		for i, n := range c.nodes {
			if st := c.statusOf(t, n); st != nil {
				for _, ns := range st.Nodes {
					if ns.Role == "leader" && ns.ApiAddr == n.APIAddr() {
						leader = i
					}
				}
			}
		}
		return leader >= 0
	})
	return leader
}

// wantAWSMessage checks the AWS error name and message of a Connect error.
func wantAWSMessage(t *testing.T, node int, err error, typ, msg string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("node %d: got %v, want %s", node, err, typ)
	}
	if got := ce.Meta().Get(wire.ErrorTypeHeader); got != typ || ce.Message() != msg {
		t.Fatalf("node %d: got %s %q, want %s %q", node, got, ce.Message(), typ, msg)
	}
}
