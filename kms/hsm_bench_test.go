package kms_test

import (
	"path/filepath"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/kms"
)

// benchBackend opens an HSM backend for BenchmarkServiceHSM, its unwrap
// cache on (cached) or off (every call unwraps the key's EKT).
type benchBackend struct {
	name string
	open func(b *testing.B, cached bool) hsm.Backend
}

// benchBackends are the backends BenchmarkServiceHSM runs through: soft,
// and SoftHSMv2 in a pkcs11 build (hsm_pkcs11_bench_test.go).
var benchBackends = []benchBackend{{"soft", func(b *testing.B, cached bool) hsm.Backend {
	var opts []soft.Option
	if !cached {
		opts = append(opts, soft.WithCacheSize(0))
	}
	dir := b.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h
}}}

// BenchmarkServiceHSM measures the service's Encrypt and Decrypt of 32
// bytes with an encryption context (authorization, the key's state, the
// HSM, the blob), one caller at a time, through each backend with its
// unwrap cache hit and missed:
//
//	go test -run '^$' -bench ServiceHSM ./kms
//	CGO_ENABLED=1 go test -tags pkcs11 -run '^$' -bench ServiceHSM ./kms
func BenchmarkServiceHSM(b *testing.B) {
	for _, bk := range benchBackends {
		for _, cached := range []bool{true, false} {
			name := bk.name + "/hit"
			if !cached {
				name = bk.name + "/miss"
			}
			h := bk.open(b, cached)
			e := newEnvMax(b, nil, 20, func(c *kms.Config) { c.HSM = h })
			m := e.createKey(b)
			ec := map[string]string{"purpose": "bench"}
			enc := &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 32), EncryptionContext: ec}
			r, err := e.svc.Encrypt(e.root, enc)
			if err != nil {
				b.Fatal(err)
			}
			dec := &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob, EncryptionContext: ec}
			b.Run(name+"/Encrypt", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.svc.Encrypt(e.root, enc); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/Decrypt", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.svc.Decrypt(e.root, dec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
