package server_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// BenchmarkEncrypt measures Encrypt through the Connect handler over
// loopback TLS (HTTP/2, mTLS), client and node in one process, 32-byte
// plaintext, at 32 concurrent callers per GOMAXPROCS... run with -cpu to
// vary. Compare with `trent bench --op encrypt` against a running node.
func BenchmarkEncrypt(b *testing.B) {
	for _, proto := range []struct {
		name string
		opts []connect.ClientOption
	}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
		b.Run(proto.name, func(b *testing.B) {
			dir := b.TempDir()
			s := startB(b, dir)
			defer s.Close()
			c := client(nil, s, adminHTTPB(b, dir), proto.opts...)
			ctx := context.Background()
			ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			req := &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: make([]byte, 32)}
			b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 concurrent callers
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Encrypt(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
