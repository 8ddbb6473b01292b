package server_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// lifecycleClock is the clock the nodes' KMS services and lifecycle
// passes read (TestingKnobs.Now); the test moves it days ahead.
type lifecycleClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lifecycleClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *lifecycleClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const lifecycleInterval = 20 * time.Millisecond

// rotationsOn lists the key's rotations on s; a node without a leader
// answers Unavailable, which the caller may wait out.
func rotationsOn(t *testing.T, s *server.Server, hc connect.HTTPClient, keyID string) ([]*kmsv1.RotationsListEntry, error) {
	t.Helper()
	r, err := kmsVia(s, hc).ListKeyRotations(context.Background(), &kmsv1.ListKeyRotationsRequest{KeyId: keyID})
	if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatal(err)
	}
	return r.GetRotations(), err
}

// waitRotations waits until s lists n rotations of the key.
func waitRotations(t *testing.T, s *server.Server, hc connect.HTTPClient, keyID string, n int) []*kmsv1.RotationsListEntry {
	t.Helper()
	var rs []*kmsv1.RotationsListEntry
	waitFor(t, fmt.Sprintf("%d rotations of %s", n, keyID), 20*time.Second, func() error {
		var err error
		if rs, err = rotationsOn(t, s, hc, keyID); err != nil {
			return err
		}
		if len(rs) != n {
			return fmt.Errorf("%d rotations", len(rs))
		}
		return nil
	}, s)
	return rs
}

// Ciphertexts made under every version of a rotated key (its first
// material, an on-demand rotation, automatic rotations by two leaders)
// decrypt on every node of the cluster, on a node restarted after the
// rotations, and on a new node that got the state from a snapshot. The
// leader rotates once per period, also across a leader change.
func TestRotatedVersionsDecryptEverywhere(t *testing.T) {
	clock := &lifecycleClock{t: time.Now()}
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.Now = clock.Now
		cfg.Testing.LifecycleInterval = lifecycleInterval
		cfg.SnapshotInterval = server.Duration(20 * time.Millisecond)
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 2
	})
	ctx := context.Background()
	admin := adminHTTP(t, c.adminDir)
	via := func(i int) kmsv1connectFull { return kmsVia(c.nodes[i], admin) }

	ck, err := via(0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	var blobs [][]byte
	encrypt := func(i int) {
		t.Helper()
		r, err := via(i).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte(fmt.Sprint("v", len(blobs)))})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, r.CiphertextBlob)
	}
	encrypt(0)
	if _, err := via(1).EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id, RotationPeriodInDays: proto32(90)}); err != nil {
		t.Fatal(err)
	}
	if _, err := via(2).RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	encrypt(0) // the leader has applied the rotation

	// The period passes: the leader rotates, once.
	clock.Advance(91 * 24 * time.Hour)
	rs := waitRotations(t, c.nodes[0], admin, id, 2)
	if rs[1].RotationType != "AUTOMATIC" || rs[0].RotationType != "ON_DEMAND" {
		t.Fatalf("rotations %v", rs)
	}
	encrypt(0)
	status, err := via(0).GetKeyRotationStatus(ctx, &kmsv1.GetKeyRotationStatusRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if want := rs[1].RotationDate + 90*86400; status.GetNextRotationDate() != want {
		t.Fatalf("next rotation %v, want %v", status.GetNextRotationDate(), want)
	}
	decryptAll := func(what string, s *server.Server, minIndex uint64) {
		t.Helper()
		hc := withHeaders(admin, "Trent-Min-Index", strconv.FormatUint(minIndex, 10))
		seen := map[string]bool{}
		for i, b := range blobs {
			// A node that just started refuses reads (retryably) until it
			// has confirmed its state with the leader: retry as a client.
			var r *kmsv1.DecryptResponse
			var err error
			waitFor(t, what+": a decrypt not refused as unavailable", 30*time.Second, func() error {
				r, err = kmsVia(s, hc).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: b})
				if connect.CodeOf(err) == connect.CodeUnavailable {
					return err
				}
				return nil
			}, s)
			if err != nil {
				t.Fatalf("%s: ciphertext %d: %v", what, i, err)
			}
			if string(r.Plaintext) != fmt.Sprint("v", i) || seen[r.KeyMaterialId] {
				t.Fatalf("%s: ciphertext %d: %q under material %s, seen before: %v", what, i, r.Plaintext, r.KeyMaterialId, seen[r.KeyMaterialId])
			}
			seen[r.KeyMaterialId] = true
		}
	}
	idx := c.nodes[0].AppliedIndex()
	for i, n := range c.nodes {
		decryptAll(onNode("decrypt", i), n, idx)
	}

	// The leader (n1, which bootstrapped) stops as the next period ends;
	// whichever leader proposes, the key rotates once.
	cfg := c.configs[0]
	cfg.APIAddr, cfg.RaftAddr = c.nodes[0].APIAddr(), c.nodes[0].RaftAddr()
	clock.Advance(91 * 24 * time.Hour)
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	rs = waitRotations(t, c.nodes[1], admin, id, 3)
	// Passes go on every 20ms; a second rotation of the period would show
	// within a few of them.
	time.Sleep(20 * lifecycleInterval)
	waitApplied(t, 10*time.Second, c.nodes[1].AppliedIndex(), c.nodes[1], c.nodes[2])
	// The listing may be refused (retryably) while the new leader settles.
	var got []*kmsv1.RotationsListEntry
	waitFor(t, "a listing of the rotations after the leader change", 20*time.Second, func() error {
		var err error
		got, err = rotationsOn(t, c.nodes[1], admin, id)
		return err
	}, c.nodes[1])
	if len(got) != 3 || got[2].RotationType != "AUTOMATIC" || got[2].KeyMaterialId != rs[2].KeyMaterialId {
		t.Fatalf("after the leader change: rotations %v", got)
	}
	for {
		r, err := via(1).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte(fmt.Sprint("v", len(blobs)))})
		if err == nil {
			blobs = append(blobs, r.CiphertextBlob)
			break
		}
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatal(err)
		}
	}
	idx = max(c.nodes[1].AppliedIndex(), c.nodes[2].AppliedIndex())
	decryptAll("decrypt on a survivor", c.nodes[1], idx)
	decryptAll("decrypt on a survivor", c.nodes[2], idx)

	// The old leader restarts and decrypts every version.
	back, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	c.nodes[0] = back
	decryptAll("decrypt after a restart", back, idx)

	// A new node joins after the leader compacted its log: it gets the
	// state, every version with it, from a snapshot.
	waitFor(t, "the survivors compact their logs", 30*time.Second, func() error {
		for _, n := range c.nodes[1:3] {
			first, err := n.RaftFirstIndex()
			if err != nil {
				t.Fatal(err)
			}
			if first <= 2 {
				return fmt.Errorf("first index %d", first)
			}
		}
		return nil
	})
	n4, err := server.Start(ctx, c.config(t.TempDir(), "n4", []string{c.nodes[1].APIAddr()}, joinToken(t, c.nodes[1], c.adminDir)))
	if err != nil {
		t.Fatalf("n4 join: %v", err)
	}
	c.nodes = append(c.nodes, n4)
	decryptAll("decrypt on a node restored from a snapshot", n4, idx)
}

type kmsv1connectFull = interface {
	CreateKey(context.Context, *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error)
	Encrypt(context.Context, *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error)
	EnableKeyRotation(context.Context, *kmsv1.EnableKeyRotationRequest) (*kmsv1.EnableKeyRotationResponse, error)
	RotateKeyOnDemand(context.Context, *kmsv1.RotateKeyOnDemandRequest) (*kmsv1.RotateKeyOnDemandResponse, error)
	GetKeyRotationStatus(context.Context, *kmsv1.GetKeyRotationStatusRequest) (*kmsv1.GetKeyRotationStatusResponse, error)
}
