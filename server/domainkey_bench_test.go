package server_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// BenchmarkDomainKeyRotation measures, on one node with 1000 keys, the
// re-wrap rate of a domain-key rotation (EKTs per second between the
// rotation entering rewrapping and finishing, from the replicated
// record's clocks) and what it costs a foreground Encrypt: the p50 and
// p99 latency of one client encrypting in a loop, without a rotation and
// while one re-wraps.
//
//	go test -tags hashicorpmetrics -run '^$' -bench DomainKeyRotation -benchtime 3x ./server
func BenchmarkDomainKeyRotation(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.Testing.RotationInterval = 20 * time.Millisecond
	cfg.Testing.AuditOff = true
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hc := adminHTTPB(b, dir)
	cl := client(b, s, hc)
	admin := clusterv1connect.NewClusterServiceClient(hc, "https://"+s.APIAddr())
	ctx := context.Background()
	var keys []string
	for range 1000 {
		ck, err := cl.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, ck.KeyMetadata.KeyId)
	}
	// encrypt runs one client until stop and returns its latencies.
	encrypt := func(stop *atomic.Bool) []time.Duration {
		var lat []time.Duration
		for i := 0; !stop.Load(); i++ {
			t0 := time.Now()
			if _, err := cl.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[i%len(keys)], Plaintext: []byte("bench")}); err != nil {
				b.Error(err)
				return lat
			}
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	pct := func(lat []time.Duration, p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		slices.Sort(lat)
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds())
	}
	var base []time.Duration
	var stop atomic.Bool
	time.AfterFunc(2*time.Second, func() { stop.Store(true) })
	base = encrypt(&stop)

	b.ResetTimer()
	var during []time.Duration
	var rate float64
	for range b.N {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var lat []time.Duration
		wg.Go(func() { lat = encrypt(&stop) })
		if _, err := admin.RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{}); err != nil {
			b.Fatal(err)
		}
		for r := server.DomainRotation(s); r.State != "done"; r = server.DomainRotation(s) {
			time.Sleep(5 * time.Millisecond)
		}
		stop.Store(true)
		wg.Wait()
		r := server.DomainRotation(s)
		rate += float64(r.Rewrapped) / (float64(r.Finished-r.Rewrapping) / 1000)
		during = append(during, lat...)
	}
	b.StopTimer()
	b.ReportMetric(rate/float64(b.N), "ekts/s")
	b.ReportMetric(pct(base, 0.5), "enc-p50-µs-idle")
	b.ReportMetric(pct(during, 0.5), "enc-p50-µs-rewrap")
	b.ReportMetric(pct(base, 0.99), "enc-p99-µs-idle")
	b.ReportMetric(pct(during, 0.99), "enc-p99-µs-rewrap")
}
