package audit_test

import (
	"context"
	"testing"

	"github.com/trentkms/trent/audit"
)

// BenchmarkRecord measures Record from 32 concurrent callers: building the
// record, the group commit and (sync) its fsync.
func BenchmarkRecord(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := audit.Open(audit.Options{Dir: b.TempDir(), NodeID: "node1", Region: "us-east-1", NoSync: tc.noSync})
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
		})
	}
}
