package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// Two nodes (followers, forwarding to the leader) create the same alias
// at once: the log orders the creates and the FSM lets exactly one win;
// the other is told the alias exists. The winner's node then encrypts
// with the alias, and the loser's node decrypts.
func TestConcurrentCreateAliasThroughTwoNodesOneWins(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	k1, k2 := client(t, c.nodes[1], adminHTTP(t, c.adminDir)), client(t, c.nodes[2], adminHTTP(t, c.adminDir))
	nodes := []kmsv1connect.KeyManagementServiceClient{k1, k2}
	a, err := k1.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := k2.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		name := fmt.Sprintf("alias/race-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, k := range nodes {
			target := []string{a.KeyMetadata.KeyId, b.KeyMetadata.KeyId}[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = k.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: name, TargetKeyId: target})
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("%s: both creates won", name)
				}
				winner = i
				continue
			}
			assertAWSError(t, err, connect.CodeAlreadyExists, "AlreadyExistsException")
		}
		if winner < 0 {
			t.Fatalf("%s: no create won: %v", name, errs)
		}
		enc, err := nodes[winner].Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: name, Plaintext: []byte("x")})
		if err != nil {
			t.Fatalf("Encrypt with %s on the winner's node: %v", name, err)
		}
		want := []string{a.KeyMetadata.Arn, b.KeyMetadata.Arn}[winner]
		if enc.KeyId != want {
			t.Fatalf("%s encrypted under %s, want %s", name, enc.KeyId, want)
		}
		if _, err := nodes[1-winner].Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil {
			t.Fatalf("Decrypt on the other node: %v", err)
		}
	}
}
