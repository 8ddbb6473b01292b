package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/trentkms/trent/audit"
)

// BenchmarkRecord measures Record from 32 concurrent callers: building the
// record, the group commit and (sync) its fsync.
func BenchmarkRecord(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
		async  time.Duration
	}{{"fsync", false, 0}, {"async10ms", false, 10 * time.Millisecond}, {"nosync", true, 0}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := audit.Open(audit.Options{Dir: b.TempDir(), NodeID: "node1", Region: "us-east-1", NoSync: tc.noSync,
				SyncInterval: tc.async})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			c := encryptCall(1)
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cc := *c
					if err := l.Record(context.Background(), &cc); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if st := l.Stats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Records)/float64(st.Commits), "records/commit")
				if st.Syncs > 0 {
					b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Syncs), "µs/fsync")
				}
			}
		})
	}
}
