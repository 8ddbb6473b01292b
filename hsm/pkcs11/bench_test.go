//go:build pkcs11 && cgo

package pkcs11_test

import (
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
	"github.com/trentkms/trent/hsm/soft"
)

// BenchmarkBackends measures Seal (Encrypt) and Open (Decrypt) of 32 and
// 4096 bytes through soft and through SoftHSMv2, with the unwrap cache hit
// (warm) and missed (cache disabled: every call unwraps the EKT).
//
//	go test -tags pkcs11 -run '^$' -bench Backends ./hsm/pkcs11
func BenchmarkBackends(b *testing.B) {
	s := softhsmtest.New(b)
	backends := []struct {
		name string
		h    hsm.Backend
	}{}
	for _, cached := range []bool{true, false} {
		suffix := "/hit"
		if !cached {
			suffix = "/miss"
		}
		var opts []soft.Option
		cfg := s.Token(b, "bench")
		cfg.WithDomain = true
		if !cached {
			opts = append(opts, soft.WithCacheSize(0))
			cfg.CacheSize = -1
		}
		sh, err := soft.OpenNode(soft.NodeConfig{Dir: filepath.Join(b.TempDir(), "hsm"), WithDomain: true}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sh.Close() })
		ph, err := pkcs11.OpenHSM(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ph.Close() })
		backends = append(backends, struct {
			name string
			h    hsm.Backend
		}{"soft" + suffix, sh}, struct {
			name string
			h    hsm.Backend
		}{"softhsm" + suffix, ph})
	}
	aad := make([]byte, 52)
	for _, bk := range backends {
		ref := newKey(b, bk.h, id(1), id(2))
		for _, n := range []int{32, 4096} {
			pt := make([]byte, n)
			body, err := bk.h.Seal(ctx, ref, id(3), aad, pt)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(bk.name+"/Seal/"+itoa(n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					if _, err := bk.h.Seal(ctx, ref, id(3), aad, pt); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(bk.name+"/Open/"+itoa(n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					if _, err := bk.h.Open(ctx, ref, id(3), aad, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func itoa(n int) string {
	if n == 32 {
		return "32"
	}
	return "4096"
}

// BenchmarkRewrapEKT measures RewrapEKT of one EKT to a new domain key,
// what a rotation's leader does per EKT, on soft and on SoftHSMv2, for an
// EKT v1 (made by soft) and an EKT v2 (made by pkcs11):
//
//	go test -tags pkcs11,hashicorpmetrics -run '^$' -bench RewrapEKT ./hsm/pkcs11
func BenchmarkRewrapEKT(b *testing.B) {
	s := softhsmtest.New(b)
	sh := newSoft(b, true)
	ph := newHSM(b, s, false)
	hsmtest.Transfer(b, sh, ph, "bench")
	refs := map[string]hsm.KeyRef{"v1": newKey(b, sh, id(1), id(1)), "v2": newKey(b, ph, id(2), id(1))}
	next, err := sh.NewDomainKey(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := sh.ExportDomainKey(ctx, next, ph.IdentityPublicKey(), []byte("bench"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ph.AddDomainKey(ctx, tok, []byte("bench")); err != nil {
		b.Fatal(err)
	}
	for _, r := range []rotatorBackend{sh, ph} {
		for _, v := range []string{"v1", "v2"} {
			b.Run(r.Capabilities().Name+"/"+v, func(b *testing.B) {
				for b.Loop() {
					if _, err := r.RewrapEKT(ctx, refs[v], next); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
