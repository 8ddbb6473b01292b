package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
	"github.com/trentkms/trent/server"
)

// Imported key material expires on every node when its ValidTo passes:
// the leader's lifecycle pass deletes it through raft, once, and records
// a DeleteExpiredKeyMaterial service event. Parameters fetched from one
// node import through another. The clock is injected.
func TestImportedMaterialExpiresThroughRaft(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
		cfg.Testing.LifecycleInterval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lin := withHeaders(adminHTTP(t, c.adminDir), "Trent-Consistency", "linearizable")
	leader := c.leaderIndex(t)
	k := kmsVia(c.nodes[leader], lin)
	follower := kmsVia(c.nodes[(leader+1)%len(c.nodes)], lin)

	ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	m := ck.KeyMetadata
	p, err := k.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: m.KeyId,
		WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := keywrap.ForImport(rand.Reader, p.PublicKey, hsm.RsaesOaepSHA256, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	validTo := time.UnixMilli(clock.Load()).Add(24 * time.Hour).Truncate(time.Second)
	v := float64(validTo.Unix())
	if _, err := follower.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: m.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: enc, ValidTo: &v}); err != nil {
		t.Fatalf("ImportKeyMaterial through another node: %v", err)
	}
	if _, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	clock.Store(validTo.UnixMilli())
	waitFor(t, "the material expires on every node", 45*time.Second, func() error {
		for _, n := range c.nodes {
			d, err := kmsVia(n, lin).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
			if err != nil {
				return err
			}
			if d.KeyMetadata.KeyState != "PendingImport" {
				return errNotYet
			}
		}
		return nil
	}, c.nodes...)
	events := 0
	for _, n := range c.nodes {
		dir := filepath.Join(n.DataDir(), "audit")
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range auditRecords(t, dir) {
			if r.EventType == "AwsServiceEvent" && r.EventName == "DeleteExpiredKeyMaterial" && len(r.Resources) == 1 && r.Resources[0].ARN == m.Arn {
				events++
			}
		}
	}
	if events != 1 {
		t.Fatalf("%d DeleteExpiredKeyMaterial service events in the audit trails, want 1", events)
	}
}
