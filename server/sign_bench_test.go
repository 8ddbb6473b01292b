package server_test

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

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// BenchmarkSignVerifyMac measures Sign (ECC_NIST_P256, RSA_2048,
// ML_DSA_65), Verify (ECC_NIST_P256) and GenerateMac (HMAC_256) of a
// 32-byte message end to end: a Connect client over loopback mTLS to a
// real node (raft, state machine, soft HSM) in this process, at 32
// concurrent callers. Each operation's raw sub-benchmark does the same
// work in-process with Go's crypto library (circl for ML-DSA) at the same
// concurrency, and its trent sub-benchmark reports its rate as a fraction
// of raw's (metric of-raw), so one command gives the ratios:
//
//	go test -tags hashicorpmetrics -run '^$' -bench SignVerifyMac -benchtime 3s ./server
func BenchmarkSignVerifyMac(b *testing.B) {
	dir := b.TempDir()
	s := startB(b, dir)
	defer s.Close()
	c := client(nil, s, adminHTTPB(b, dir))
	ctx := context.Background()
	key := func(spec, usage string) string {
		r, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{KeySpec: spec, KeyUsage: usage})
		if err != nil {
			b.Fatal(err)
		}
		return r.KeyMetadata.KeyId
	}
	p256, rsa2048, ml := key("ECC_NIST_P256", "SIGN_VERIFY"), key("RSA_2048", "SIGN_VERIFY"), key("ML_DSA_65", "SIGN_VERIFY")
	mac := key("HMAC_256", "GENERATE_VERIFY_MAC")
	msg := make([]byte, 32)
	sig, err := c.Sign(ctx, &kmsv1.SignRequest{KeyId: p256, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		b.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, mlKey, _ := mldsa65.GenerateKey(rand.Reader)
	d := sha256.Sum256(msg)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ecKey, d[:])
	macKey := make([]byte, 32)
	rates := map[string]float64{}
	for _, op := range []struct {
		name       string
		trent, raw func() error
	}{
		{"Sign_ECC_NIST_P256", func() error {
			_, err := c.Sign(ctx, &kmsv1.SignRequest{KeyId: p256, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			_, err := ecdsa.SignASN1(rand.Reader, ecKey, d[:])
			return err
		}},
		{"Sign_RSA_2048", func() error {
			_, err := c.Sign(ctx, &kmsv1.SignRequest{KeyId: rsa2048, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			_, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return err
		}},
		{"Sign_ML_DSA_65", func() error {
			_, err := c.Sign(ctx, &kmsv1.SignRequest{KeyId: ml, Message: msg, SigningAlgorithm: "ML_DSA_SHAKE_256"})
			return err
		}, func() error {
			sig := make([]byte, mldsa65.SignatureSize)
			return mldsa65.SignTo(mlKey, msg, nil, true, sig)
		}},
		{"Verify_ECC_NIST_P256", func() error {
			_, err := c.Verify(ctx, &kmsv1.VerifyRequest{KeyId: p256, Message: msg, SigningAlgorithm: "ECDSA_SHA_256", Signature: sig.Signature})
			return err
		}, func() error {
			d := sha256.Sum256(msg)
			ecdsa.VerifyASN1(&ecKey.PublicKey, d[:], ecSig)
			return nil
		}},
		{"GenerateMac_HMAC_256", func() error {
			_, err := c.GenerateMac(ctx, &kmsv1.GenerateMacRequest{KeyId: mac, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
			return err
		}, func() error {
			m := hmac.New(sha256.New, macKey)
			m.Write(msg)
			m.Sum(nil)
			return nil
		}},
	} {
		b.Run(op.name+"/raw", func(b *testing.B) { rates[op.name] = parallel32(b, op.raw) })
		b.Run(op.name+"/trent", func(b *testing.B) {
			rate := parallel32(b, op.trent)
			if raw := rates[op.name]; raw > 0 {
				b.ReportMetric(rate/raw, "of-raw")
			}
		})
	}
}

// parallel32 runs op from 32 concurrent goroutines, reports ops/s and
// returns it.
func parallel32(b *testing.B, op func() error) float64 {
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
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "ops/s")
	return rate
}
