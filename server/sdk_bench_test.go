package server_test

import (
	"context"
	"runtime"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/server"
)

// BenchmarkSDKEncryptNode measures Encrypt through the unmodified
// aws-sdk-go-v2 KMS client against a real node (SigV4, the consistency
// gate, policy evaluation and the audit trail), 32 concurrent callers,
// client and node on the same cores.
//
//	go test -tags hashicorpmetrics -run '^$' -bench SDKEncryptNode -benchtime 5s ./server
func BenchmarkSDKEncryptNode(b *testing.B) {
	for _, mode := range []struct {
		name string
		set  func(*server.Config)
	}{
		{"audit=fsync", func(*server.Config) {}},
		{"audit=off", func(c *server.Config) { c.Testing.AuditOff = true }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := testConfig(dir)
			mode.set(&cfg)
			s, err := server.Start(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			ak, err := iamv1connect.NewIdentityServiceClient(adminHTTPB(b, dir), "https://"+s.APIAddr()).
				CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			c := awsClient(b, s, dir, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey)
			k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
			if err != nil {
				b.Fatal(err)
			}
			in := &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: make([]byte, 32),
				EncryptionContext: map[string]string{"tenant": "bench"}}
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((32 + procs - 1) / procs)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Encrypt(ctx, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
