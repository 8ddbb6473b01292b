package server_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// followerReaders is the concurrency of BenchmarkFollowerLinearizable.
const followerReaders = 32

// BenchmarkFollowerLinearizable compares a linearizable DescribeKey on a
// follower of a three-node cluster with a bounded one on the same
// follower, 32 concurrent callers, client and nodes on the same cores. A
// bounded read is served from the follower's state; a linearizable one
// also waits for a read index exchange with the leader that began after
// it (shared with the reads that arrived meanwhile). The modes alternate
// (bounded, linearizable, linearizable, bounded, twice: a drift of the
// machine's load cancels), b.N/2 calls each in all. It reports both
// rates; x-bounded, the linearizable read's time over the bounded one's
// (its cost); cpu-x-bounded, the same for the CPU time of the process
// (client and the three nodes), which other load on the machine disturbs
// far less; and reads/exchange, the follower's linearizable reads per
// read index exchange it forwarded to the leader.
//
//	go test -tags hashicorpmetrics -run '^$' -bench FollowerLinearizable -benchtime 4000x ./server
func BenchmarkFollowerLinearizable(b *testing.B) {
	c, admin := benchCluster(b)
	follower := c.nodes[2]
	req := &kmsv1.DescribeKeyRequest{KeyId: keyOnFollower(b, c, withHeaders(admin))}
	modes := map[string]func(context.Context) error{}
	for _, mode := range []string{"bounded", "linearizable"} {
		k := kmsVia(follower, withHeaders(admin, "Trent-Consistency", mode))
		modes[mode] = func(ctx context.Context) error { _, err := k.DescribeKey(ctx, req); return err }
	}
	metricsURL := "https://" + follower.APIAddr() + "/metrics"
	exchanges := func() float64 {
		return value(scrape(b, admin, metricsURL), "trent_forwarded_duration_seconds", "kind", "read_index", "result", "ok")
	}
	// Warm up: connections, and a refresh behind the bounded reads.
	for _, op := range modes {
		if _, err := calls(followerReaders, followerReaders, op); err != nil {
			b.Fatal(err)
		}
	}
	spent, cpu := map[string]time.Duration{}, map[string]time.Duration{}
	var asked float64
	order := []string{"bounded", "linearizable", "linearizable", "bounded"}
	rounds := 2
	n := b.N / (rounds * len(order))
	b.ResetTimer()
	for range rounds {
		for _, mode := range order {
			b.StopTimer()
			before := exchanges()
			b.StartTimer()
			cpu0 := processCPU()
			d, err := calls(n, followerReaders, modes[mode])
			if err != nil {
				b.Fatal(err)
			}
			spent[mode] += d
			cpu[mode] += processCPU() - cpu0
			if mode == "linearizable" {
				b.StopTimer()
				asked += exchanges() - before
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	each := float64(n * rounds * 2) // calls of each mode
	b.ReportMetric(each/spent["bounded"].Seconds(), "bounded-ops/s")
	b.ReportMetric(each/spent["linearizable"].Seconds(), "linearizable-ops/s")
	b.ReportMetric(spent["linearizable"].Seconds()/spent["bounded"].Seconds(), "x-bounded")
	b.ReportMetric(cpu["linearizable"].Seconds()/cpu["bounded"].Seconds(), "cpu-x-bounded")
	if asked > 0 {
		b.ReportMetric(each/asked, "reads/exchange")
	}
}

// keyOnFollower creates a key through the leader, calling with w, and
// returns its id once the follower c.nodes[2] has applied it.
func keyOnFollower(b *testing.B, c *testCluster, w *headerClient) string {
	b.Helper()
	ctx := context.Background()
	ck, err := kmsVia(c.nodes[0], w).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	idx, _ := strconv.ParseUint(w.last().Get("Trent-Applied-Index"), 10, 64)
	if err := c.nodes[2].WaitApplied(ctx, idx); err != nil {
		b.Fatal(err)
	}
	return ck.KeyMetadata.KeyId
}

// calls makes n calls of op from conc goroutines and returns how long they
// took.
func calls(n, conc int, op func(context.Context) error) (time.Duration, error) {
	var left atomic.Int64
	left.Store(int64(n))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := op(context.Background()); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}
