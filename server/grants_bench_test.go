package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// BenchmarkGrantAuthorizedEncrypt measures Encrypt by a grantee whose only
// permission is a grant, on a key with one grant and on a key with 50,000
// grants (the default limit), over the real transport: the cost of
// authorization must not grow with the number of grants on the key.
//
//	go test -tags hashicorpmetrics -run '^$' -bench GrantAuthorizedEncrypt -benchtime 20000x ./server
func BenchmarkGrantAuthorizedEncrypt(b *testing.B) {
	dir := b.TempDir()
	s := startB(b, dir)
	defer s.Close()
	ctx := context.Background()
	admin := kmsv1connect.NewKeyManagementServiceClient(adminHTTPB(b, dir), "https://"+s.APIAddr())
	const bob = "arn:aws:iam::111122223333:user/bob"
	keyWith := func(grants int) string {
		ck, err := admin.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			b.Fatal(err)
		}
		id := ck.KeyMetadata.KeyId
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range grants - 1 {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: id,
					GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:role/app-%d", i), Operations: []string{"Encrypt"}}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		if _, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: id, GranteePrincipal: bob, Operations: []string{"Encrypt"}}); err != nil {
			b.Fatal(err)
		}
		return id
	}
	keys := map[string]string{"grants=1": keyWith(1), "grants=50000": keyWith(50_000)}
	bobHTTP := clientForPrincipal(b, s, dir, bob)
	for _, name := range []string{"grants=1", "grants=50000"} {
		b.Run(name, func(b *testing.B) {
			c := kmsv1connect.NewKeyManagementServiceClient(bobHTTP, "https://"+s.APIAddr())
			req := &kmsv1.EncryptRequest{KeyId: keys[name], Plaintext: make([]byte, 32)}
			lat := make([]time.Duration, 0, b.N)
			var mu sync.Mutex
			b.SetParallelism(4) // 8 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					if _, err := c.Encrypt(ctx, req); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
