package awsapi_test

import (
	"context"
	"runtime"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trentkms/trent/awsapi"
)

// BenchmarkSDKEncrypt measures Encrypt through the aws-sdk-go-v2 client
// over loopback TLS with 32 concurrent callers, client included.
func BenchmarkSDKEncrypt(b *testing.B) {
	srv := newServer(b, newService(b), awsapi.Options{})
	c := srv.sdk(rootKeyID, rootSecret)
	ctx := context.Background()
	k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	in := &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: make([]byte, 32),
		EncryptionContext: map[string]string{"tenant": "bench"}}
	if _, err := c.Encrypt(ctx, in); err != nil {
		b.Fatal(err)
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs)
	b.ReportAllocs()
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
	b.ReportMetric(float64(srv.conns.Load()), "conns")
}
