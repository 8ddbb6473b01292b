package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// sdkCallers is the concurrency of the SDK benchmarks.
const sdkCallers = 32

// BenchmarkSDKEncryptNode measures Encrypt through the unmodified
// aws-sdk-go-v2 KMS client against a real node (SigV4, the consistency
// gate, policy evaluation and the audit trail), 32 concurrent callers,
// client and node on the same cores. Right after, the same client makes as
// many calls to a null HTTPS server (a node's TLS config and HTTP/2
// server) answering the node's own Encrypt reply as a fixed body; it
// reports both rates and x-null, the node's over the null server's.
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
			reply, err := c.Encrypt(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((sdkCallers + procs - 1) / procs)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Encrypt(ctx, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			node := float64(b.N) / time.Since(start).Seconds()
			b.StopTimer()
			null := nullAWSRate(b, reply, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey, in, b.N)
			b.ReportMetric(node, "ops/s")
			b.ReportMetric(null, "null-ops/s")
			b.ReportMetric(node/null, "x-null")
		})
	}
}

// nullAWSRate makes n Encrypt calls from sdkCallers goroutines through an
// aws-sdk-go-v2 client (signing as the node's client does) to a null HTTPS
// server answering reply, and returns the calls per second.
func nullAWSRate(b *testing.B, reply *awskms.EncryptOutput, keyID, secret string, in *awskms.EncryptInput, n int) float64 {
	body, err := json.Marshal(map[string]any{"CiphertextBlob": reply.CiphertextBlob, "KeyId": reply.KeyId,
		"EncryptionAlgorithm": reply.EncryptionAlgorithm})
	if err != nil {
		b.Fatal(err)
	}
	cert, pool := selfSigned(b)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
		w.Write(body)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = identity.ServerTLSConfig(x509.NewCertPool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	srv.TLS.Certificates = []tls.Certificate{*cert} // else httptest puts in its own
	srv.StartTLS()
	defer srv.Close()
	c := awskms.New(awskms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
		Retryer: aws.NopRetryer{},
	})
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range sdkCallers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := c.Encrypt(context.Background(), in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// selfSigned returns a serving certificate for 127.0.0.1 and a pool
// trusting it.
func selfSigned(b *testing.B) (*tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
