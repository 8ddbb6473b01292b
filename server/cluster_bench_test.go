package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// benchCluster is a three-node cluster on loopback shared by the cluster
// benchmarks; like them, it runs client and nodes on the same cores.
func benchCluster(b *testing.B) (*testCluster, *http.Client) {
	b.Helper()
	c := startCluster(b, func(cfg *server.Config) { cfg.Testing.RaftTimeout = time.Second })
	return c, adminHTTPB(b, c.adminDir)
}

// parallel runs op from conc goroutines until b.N calls are done.
func parallel(b *testing.B, conc int, op func(ctx context.Context) error) {
	b.Helper()
	ctx := context.Background()
	b.SetParallelism(max(1, conc/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkClusterWrites measures replicated writes through the leader
// of a three-node cluster: CreateKey at 1, 16 and 64 concurrent callers,
// and CreateGrant at 64.
//
//	go test -tags hashicorpmetrics -run '^$' -bench ClusterWrites -benchtime 2000x ./server
func BenchmarkClusterWrites(b *testing.B) {
	c, admin := benchCluster(b)
	leader := kmsVia(c.nodes[0], admin)
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("CreateKey/c=%d", conc), func(b *testing.B) {
			parallel(b, conc, func(ctx context.Context) error {
				_, err := leader.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
				return err
			})
		})
	}
	ck, err := leader.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("CreateGrant/c=64", func(b *testing.B) {
		req := &kmsv1.CreateGrantRequest{KeyId: ck.KeyMetadata.KeyId, GranteePrincipal: "arn:aws:iam::111122223333:role/app",
			Operations: []string{"Encrypt", "Decrypt"}}
		parallel(b, 64, func(ctx context.Context) error {
			_, err := leader.CreateGrant(ctx, req)
			return err
		})
	})
}

// BenchmarkClusterReads compares a bounded and a linearizable DescribeKey
// on a follower, one caller at a time (latency), and reports the
// follower visibility lag: from a write acknowledged by the leader to its
// being applied on each follower, on an idle cluster.
//
//	go test -tags hashicorpmetrics -run '^$' -bench ClusterReads -benchtime 2000x ./server
func BenchmarkClusterReads(b *testing.B) {
	c, admin := benchCluster(b)
	ctx := context.Background()
	w := withHeaders(admin)
	keyID := keyOnFollower(b, c, w)
	req := &kmsv1.DescribeKeyRequest{KeyId: keyID}
	for _, node := range []struct {
		name string
		i    int
	}{{"leader", 0}, {"follower", 2}} {
		for _, mode := range []string{"bounded", "linearizable"} {
			b.Run("DescribeKey/"+node.name+"/"+mode, func(b *testing.B) {
				k := kmsVia(c.nodes[node.i], withHeaders(admin, "Trent-Consistency", mode))
				for b.Loop() {
					if _, err := k.DescribeKey(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("VisibilityLag", func(b *testing.B) {
		reportLags(b, visibilityLags(b, c.nodes, w, keyID))
	})
}
