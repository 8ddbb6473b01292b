package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/server"
)

// rotationOpts paces rotation steps for tests: small batches, so a
// rotation of a few keys takes several.
func rotationOpts(hold func(int) bool) func(*server.Config) {
	return func(cfg *server.Config) {
		cfg.Testing.RotationInterval = 50 * time.Millisecond
		cfg.Testing.RewrapBatch = 2
		cfg.Testing.RewrapHold = hold
	}
}

// retrying calls f until it succeeds, retrying only what the node calls
// retryable (unavailable: a leadership change, a stale follower), which
// the race detector on two shared cores provokes.
func retrying[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	var out T
	var fatal error
	waitFor(t, what, 30*time.Second, func() error {
		var err error
		out, err = f()
		if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
			fatal = err
			return nil
		}
		return err
	})
	if fatal != nil {
		t.Fatalf("%s: %v", what, fatal)
	}
	return out
}

// acked is an acknowledged Encrypt.
type acked struct {
	keyID, plaintext string
	blob             []byte
}

// rotationOf returns the domain rotation as node s reports it, nil if it
// did not answer or has none.
func (c *testCluster) rotationOf(t *testing.T, s *server.Server) *clusterv1.DomainRotation {
	return c.statusOf(t, s).GetDomainRotation()
}

func (c *testCluster) waitRotationDone(t *testing.T, on ...int) *clusterv1.DomainRotation {
	t.Helper()
	var r *clusterv1.DomainRotation
	for _, i := range on {
		waitUntil(t, onNode("the domain-key rotation is done", i), func() bool {
			r = c.rotationOf(t, c.nodes[i])
			return r.GetState() == "done"
		})
	}
	return r
}

// decryptsEverywhere checks every acknowledged ciphertext on nodes on.
func (c *testCluster) decryptsEverywhere(t *testing.T, all []acked, on ...int) {
	t.Helper()
	ctx := context.Background()
	for _, i := range on {
		cl := c.kms(t, i)
		for _, a := range all {
			d := retrying(t, fmt.Sprintf("node %d decrypts an acknowledged ciphertext of %s", i+1, a.keyID), func() (*kmsv1.DecryptResponse, error) {
				return cl.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: a.blob})
			})
			if string(d.Plaintext) != a.plaintext {
				t.Fatalf("node %d: decrypted %q, want %q", i+1, d.Plaintext, a.plaintext)
			}
		}
	}
}

// onlyKey checks that node i's HSM holds exactly the domain key id.
func (c *testCluster) onlyKey(t *testing.T, i int, id string) {
	t.Helper()
	waitUntil(t, onNode("the old domain key is destroyed", i), func() bool {
		ids := server.DomainKeyIDs(c.nodes[i])
		return len(ids) == 1 && fmt.Sprintf("%x", ids[0]) == id
	})
}

// TestRemoveNodeRotatesTheDomainKey removes n3 while clients encrypt on
// n1 and n2: the removal rotates the domain key; every acknowledged
// ciphertext decrypts on both; both destroy the old key; n3's HSM, which
// opened every EKT before, opens none written or re-wrapped after.
func TestRemoveNodeRotatesTheDomainKey(t *testing.T) {
	c := startCluster(t, rotationOpts(nil))
	ctx := context.Background()
	var keys []string
	for i := range 6 {
		ck := retrying(t, "create a key", func() (*kmsv1.CreateKeyResponse, error) {
			return c.kms(t, i%3).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		})
		keys = append(keys, ck.KeyMetadata.KeyId)
	}
	oldKey, oldVersion, oldEKT := server.KeyVersionRef(c.nodes[0], keys[0])
	if err := server.UnwrapsEKT(c.nodes[2], oldKey, oldVersion, oldEKT); err != nil {
		t.Fatalf("n3 cannot open an EKT before the rotation: %v", err)
	}

	// The workload: encrypts through n1 and n2 until stopped.
	var (
		mu    sync.Mutex
		all   []acked
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	for w := range 2 {
		wg.Go(func() {
			cl := c.kms(t, w)
			for i := 0; !stop.Load(); i++ {
				id, pt := keys[i%len(keys)], fmt.Sprintf("w%d-%d", w, i)
				r, err := cl.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte(pt)})
				if err != nil {
					fails.Add(1) // not acknowledged: nothing to check
					continue
				}
				mu.Lock()
				all = append(all, acked{id, pt, r.CiphertextBlob})
				mu.Unlock()
			}
		})
	}
	waitUntil(t, "the workload runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(all) > 10 })
	retrying(t, "remove n3", func() (*clusterv1.RemoveNodeResponse, error) {
		return c.admin(t, c.nodes[1]).RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n3"})
	})
	// Keys made during the rotation are in the workload's ciphertexts too
	// (retried: the removal may move the leadership).
	for range 2 {
		ck := retrying(t, "create a key during the rotation", func() (*kmsv1.CreateKeyResponse, error) {
			return c.kms(t, 1).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		})
		r := retrying(t, "encrypt during the rotation", func() (*kmsv1.EncryptResponse, error) {
			r, err := c.kms(t, 0).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("during")})
			if connect.CodeOf(err) == connect.CodeNotFound {
				// n1's bounded read may not see a key n2 made a moment
				// ago yet; it will within the bound.
				err = connect.NewError(connect.CodeUnavailable, err)
			}
			return r, err
		})
		mu.Lock()
		all = append(all, acked{ck.KeyMetadata.KeyId, "during", r.CiphertextBlob})
		mu.Unlock()
	}
	r := c.waitRotationDone(t, 0, 1)
	stop.Store(true)
	wg.Wait()
	// Total counts the EKTs under the old key when re-wrapping began;
	// keys made meanwhile by a node that had not switched to the new key
	// yet add EKTs under the old key, re-wrapped too, so Rewrapped may
	// exceed it (seen once in CI under load: 10 of 9). That none is left
	// under the old key the state machine checks before it says done.
	if r.Generation != 2 || r.Reason != "remove n3" || r.Rewrapped < r.Total || r.Total < 8 {
		t.Fatalf("rotation %v", r)
	}
	t.Logf("%d ciphertexts acknowledged (%d calls failed); %d EKTs re-wrapped", len(all), fails.Load(), r.Rewrapped)
	c.decryptsEverywhere(t, all, 0, 1)
	for i := range 2 {
		c.onlyKey(t, i, r.NewKeyId)
	}

	// n3 was removed and holds only the old key: it opens no EKT of the
	// state after the rotation, re-wrapped or new.
	ck := retrying(t, "create a key after the rotation", func() (*kmsv1.CreateKeyResponse, error) {
		return c.kms(t, 0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	})
	waitApplied(t, 10*time.Second, c.nodes[0].AppliedIndex(), c.nodes[1])
	for _, id := range []string{keys[0], ck.KeyMetadata.KeyId} {
		keyID, version, ekt := server.KeyVersionRef(c.nodes[0], id)
		if id == keys[0] && bytes.Equal(ekt, oldEKT) {
			t.Fatal("the EKT was not re-wrapped")
		}
		if err := server.UnwrapsEKT(c.nodes[2], keyID, version, ekt); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("the removed node's HSM opened an EKT of %s written after the rotation: %v", id, err)
		}
		if err := server.UnwrapsEKT(c.nodes[1], keyID, version, ekt); err != nil {
			t.Fatalf("n2 cannot open %s: %v", id, err)
		}
	}
}

// TestRotationSurvivesLeaderLoss stops the leader after two re-wrap
// batches: the next leader resumes from the replicated record and the
// rotation completes once, every EKT re-wrapped once.
func TestRotationSurvivesLeaderLoss(t *testing.T) {
	var holding atomic.Bool
	holding.Store(true)
	c := startCluster(t, rotationOpts(func(batches int) bool { return holding.Load() && batches >= 2 }))
	ctx := context.Background()
	var all []acked
	for i := range 8 {
		ck := retrying(t, "create a key", func() (*kmsv1.CreateKeyResponse, error) {
			return c.kms(t, i%3).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		})
		r := retrying(t, "encrypt", func() (*kmsv1.EncryptResponse, error) {
			return c.kms(t, i%3).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("before")})
		})
		all = append(all, acked{ck.KeyMetadata.KeyId, "before", r.CiphertextBlob})
	}
	// Only the admin may rotate.
	_, bobHTTP := c.principalHTTP(t, "arn:aws:iam::111122223333:user/bob")
	asBob := clusterv1connect.NewClusterServiceClient(bobHTTP, "https://"+c.nodes[1].APIAddr())
	if _, err := asBob.RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("bob rotated the domain key: %v", err)
	}
	// Through a follower, which forwards to the leader.
	started := retrying(t, "rotate the domain key", func() (*clusterv1.RotateDomainKeyResponse, error) {
		return c.admin(t, c.nodes[2]).RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{})
	})
	if started.Rotation.Generation != 2 {
		t.Fatalf("started %v", started.Rotation)
	}
	waitUntil(t, "two batches are re-wrapped", func() bool {
		r := c.rotationOf(t, c.nodes[1])
		return r.GetState() == "rewrapping" && r.GetRewrapped() == 4
	})
	if _, err := c.admin(t, c.nodes[1]).RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{}); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("a second rotation started while re-wrapping: %v", err)
	}
	leader := -1
	for i, id := range []string{"n1", "n2", "n3"} {
		if byID(c.statusOf(t, c.nodes[1]))[id].GetRole() == "leader" {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader")
	}
	if err := c.nodes[leader].Close(); err != nil {
		t.Fatal(err)
	}
	holding.Store(false)
	var survivors []int
	for i := range 3 {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	r := c.waitRotationDone(t, survivors...)
	if r.Generation != 2 || r.Rewrapped != r.Total {
		t.Fatalf("rotation %v: re-wrapped %d of %d", r, r.Rewrapped, r.Total)
	}
	c.decryptsEverywhere(t, all, survivors...)
	for _, i := range survivors {
		c.onlyKey(t, i, r.NewKeyId)
	}
	// Once: a new rotation is the next generation.
	waitFor(t, "a new rotation starts", 20*time.Second, func() error {
		_, err := c.admin(t, c.nodes[survivors[0]]).RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{})
		return err
	})
	if g := c.rotationOf(t, c.nodes[survivors[0]]).GetGeneration(); g != 3 {
		t.Fatalf("next generation %d, want 3", g)
	}
}
