package awsapi_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trentkms/trent/awsapi"
)

// parallel32 runs op from 32 concurrent goroutines and reports ops/s.
func parallel32(b *testing.B, op func() error) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkSDKSignVerifyMac measures Sign (ECC_NIST_P256, RSA_2048),
// Verify (ECC_NIST_P256) and GenerateMac (HMAC_256) of a 32-byte message
// through the aws-sdk-go-v2 client over loopback TLS at concurrency 32
// (sub-benchmark trent), next to the same operation done in-process by
// Go's crypto library at concurrency 32 (sub-benchmark raw). Trent's rate
// over raw's is the fraction the issue asks for.
func BenchmarkSDKSignVerifyMac(b *testing.B) {
	srv := newServer(b, newService(b), awsapi.Options{})
	c := srv.sdk(rootKeyID, rootSecret)
	ctx := context.Background()
	key := func(spec types.KeySpec, usage types.KeyUsageType) *string {
		k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		if err != nil {
			b.Fatal(err)
		}
		return k.KeyMetadata.KeyId
	}
	p256, rsa2048 := key(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify), key(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	mac := key(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	msg := make([]byte, 32)
	sig, err := c.Sign(ctx, &awskms.SignInput{KeyId: p256, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		b.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ecKey, make([]byte, 32))
	macKey := make([]byte, 32)
	for _, c2 := range []struct {
		name       string
		trent, raw func() error
	}{
		{"Sign_ECC_NIST_P256", func() error {
			_, err := c.Sign(ctx, &awskms.SignInput{KeyId: p256, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			_, err := ecdsa.SignASN1(rand.Reader, ecKey, d[:])
			return err
		}},
		{"Sign_RSA_2048", func() error {
			_, err := c.Sign(ctx, &awskms.SignInput{KeyId: rsa2048, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			_, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return err
		}},
		{"Verify_ECC_NIST_P256", func() error {
			_, err := c.Verify(ctx, &awskms.VerifyInput{KeyId: p256, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256, Signature: sig.Signature})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			ecdsa.VerifyASN1(&ecKey.PublicKey, d[:], ecSig)
			return nil
		}},
		{"GenerateMac_HMAC_256", func() error {
			_, err := c.GenerateMac(ctx, &awskms.GenerateMacInput{KeyId: mac, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
			return err
		}, func() error {
			m := hmac.New(sha256.New, macKey)
			m.Write(msg)
			m.Sum(nil)
			return nil
		}},
	} {
		b.Run(c2.name+"/trent", func(b *testing.B) { parallel32(b, c2.trent) })
		b.Run(c2.name+"/raw", func(b *testing.B) { parallel32(b, c2.raw) })
	}
}
