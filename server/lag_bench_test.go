package server_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/server"
)

// BenchmarkVisibilityLag is the follower-visibility curve of
// docs/performance.md: how long after the leader acknowledges a write a
// bounded-staleness read on a follower can see it (the follower's state
// machine has applied the write's index), on a three-node cluster in one
// process, while 0, 16 or 64 other callers write CreateGrant to the leader
// as fast as they can. Each iteration is one UpdateKeyDescription on the
// leader; its lag is measured on both followers, and the benchmark reports
// the p50 and p99 over all of them and the background writers' rate.
//
//	go test -tags hashicorpmetrics -run '^$' -bench VisibilityLag -benchtime 300x ./server
func BenchmarkVisibilityLag(b *testing.B) {
	c, admin := benchCluster(b)
	ctx := context.Background()
	for _, writers := range []int{0, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			w := withHeaders(admin)
			leader := kmsVia(c.nodes[0], w)
			ck, err := leader.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			stop := backgroundGrants(b, kmsVia(c.nodes[0], admin), ck.KeyMetadata.KeyId, writers)
			lags := visibilityLags(b, c.nodes, w, ck.KeyMetadata.KeyId)
			b.StopTimer()
			b.ReportMetric(stop(), "writes/s")
			reportLags(b, lags)
		})
	}
}

// visibilityLags runs b.Loop: one UpdateKeyDescription of keyID on
// nodes[0] (the leader) through w per iteration, then how long after its
// answer each other node has applied it. It returns the lags unsorted.
func visibilityLags(b *testing.B, nodes []*server.Server, w *headerClient, keyID string) []time.Duration {
	b.Helper()
	ctx := context.Background()
	leader := kmsVia(nodes[0], w)
	var lags []time.Duration
	var mu sync.Mutex
	for b.Loop() {
		if _, err := leader.UpdateKeyDescription(ctx, &kmsv1.UpdateKeyDescriptionRequest{KeyId: keyID, Description: "x"}); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		idx, err := strconv.ParseUint(w.last().Get("Trent-Applied-Index"), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, f := range nodes[1:] {
			wg.Go(func() {
				if err := f.WaitApplied(ctx, idx); err != nil {
					b.Error(err)
				}
				lag := time.Since(acked)
				mu.Lock()
				lags = append(lags, lag)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return lags
}

// reportLags reports the p50 and p99 of lags in milliseconds.
func reportLags(b *testing.B, lags []time.Duration) {
	b.Helper()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
}

// backgroundGrants starts n callers creating grants on keyID until stop
// is called; stop waits for them and returns their grants per second.
// Their errors fail the benchmark (LimitExceededException included: keep
// a run under 50,000 grants on the key).
func backgroundGrants(b *testing.B, k kmsv1connect.KeyManagementServiceClient, keyID string, n int) (stop func() float64) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	req := &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:role/app", Operations: []string{"Encrypt"}}
	start := time.Now()
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := k.CreateGrant(ctx, req); err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				mu.Lock()
				made++
				mu.Unlock()
			}
		})
	}
	return func() float64 {
		cancel()
		wg.Wait()
		return float64(made) / time.Since(start).Seconds()
	}
}
