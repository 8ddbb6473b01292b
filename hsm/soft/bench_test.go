package soft

import (
	"context"
	"fmt"
	"testing"
)

var benchSizes = []int{32, 4096}

func BenchmarkSeal(b *testing.B) {
	h := newTestHSM(b)
	ref := newKey(b, h.HSM, id(1), id(2))
	aad := make([]byte, 50+2)
	ctx := context.Background()
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Seal(ctx, ref, id(3), aad, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	h := newTestHSM(b)
	ref := newKey(b, h.HSM, id(1), id(2))
	aad := make([]byte, 50+2)
	ctx := context.Background()
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			body := mustSeal(b, h.HSM, ref, id(3), aad, make([]byte, n))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Open(ctx, ref, id(3), aad, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenUncached measures Open when every call unwraps the EKT.
func BenchmarkOpenUncached(b *testing.B) {
	h := newTestHSM(b, WithCacheSize(0))
	ref := newKey(b, h.HSM, id(1), id(2))
	body := mustSeal(b, h.HSM, ref, id(3), nil, make([]byte, 32))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Open(ctx, ref, id(3), nil, body); err != nil {
			b.Fatal(err)
		}
	}
}
