package server_test

import (
	"context"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// BenchmarkEncryptAudit measures what the audit trail costs: Encrypt
// through the Connect handler as in BenchmarkEncrypt (32 concurrent
// callers), with the trail on (every call waits for its record's group
// fsync) and off. Compare ns/op of the two.
func BenchmarkEncryptAudit(b *testing.B) {
	for _, tc := range []struct {
		name  string
		off   bool
		async time.Duration
	}{{"on", false, 0}, {"async10ms", false, 10 * time.Millisecond}, {"off", true, 0}} {
		b.Run("audit="+tc.name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := testConfig(dir)
			cfg.Testing.AuditOff = tc.off
			cfg.AuditSyncInterval = server.Duration(tc.async)
			s, err := server.Start(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c := client(nil, s, adminHTTPB(b, dir))
			ctx := context.Background()
			ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			req := &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: make([]byte, 32),
				EncryptionContext: map[string]string{"tenant": "acme"}}
			b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 concurrent callers
			b.ReportAllocs()
			b.ResetTimer()
			before := s.AuditStats()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Encrypt(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if st := s.AuditStats(); st.Commits > before.Commits {
				commits := float64(st.Commits - before.Commits)
				b.ReportMetric(float64(st.Records-before.Records)/commits, "records/commit")
				if syncs := st.Syncs - before.Syncs; syncs > 0 {
					b.ReportMetric(float64((st.SyncTime-before.SyncTime).Microseconds())/float64(syncs), "µs/fsync")
				}
			}
		})
	}
}
