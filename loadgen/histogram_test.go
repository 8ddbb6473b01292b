package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	t.Parallel()
	prevHi := int64(-1)
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if int64(lo) != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its value", i, lo, hi, subCount)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		prevHi = int64(hi)
	}
	if prevHi != maxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxValue)
	}
}

// TestHistogramQuantiles compares the histogram with exact quantiles of
// sorted samples from several distributions.
func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		"constant":    func() time.Duration { return 1234567 * time.Nanosecond },
		"uniform":     func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) },
		"exponential": func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(time.Millisecond)) },
		"lognormal": func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5) * float64(500*time.Microsecond))
		},
		"bimodal": func() time.Duration {
			if rng.IntN(100) == 0 {
				return time.Duration(50+rng.IntN(50)) * time.Millisecond
			}
			return time.Duration(200+rng.IntN(100)) * time.Microsecond
		},
		"tiny": func() time.Duration { return time.Duration(rng.IntN(300)) },
	}
	for name, next := range dists {
		var h histogram
		samples := make([]time.Duration, 100000)
		for i := range samples {
			samples[i] = next()
			h.Record(samples[i])
		}
		slices.Sort(samples)
		for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(len(samples)))), 1)
			want := samples[rank-1]
			got := h.Quantile(q)
			if diff := math.Abs(float64(got - want)); diff > float64(want)/100 && diff > 1 {
				t.Errorf("%s: p%g = %v, want %v (error %.2f%%)", name, q*100, got, want, 100*diff/float64(want))
			}
		}
		if h.Count() != uint64(len(samples)) || h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
			t.Errorf("%s: count %d min %v max %v, want %d %v %v", name, h.Count(), h.Min(), h.Max(), len(samples), samples[0], samples[len(samples)-1])
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	t.Parallel()
	var h histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Min() != 0 {
		t.Error("empty histogram should report zeros")
	}
	h.Record(-time.Second) // clamped to 0
	h.Record(time.Hour)    // clamped to the largest value
	if h.Min() != 0 || h.Max() != maxValue {
		t.Errorf("min %v max %v, want 0 and %v", h.Min(), h.Max(), time.Duration(maxValue))
	}
}

func TestHistogramMergeAndConcurrency(t *testing.T) {
	t.Parallel()
	var a, b, all histogram
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				d := time.Duration((w*1000 + i + 1) * 1000)
				if w%2 == 0 {
					a.Record(d)
				} else {
					b.Record(d)
				}
				all.Record(d)
			}
		})
	}
	wg.Wait()
	var m histogram
	m.Merge(&a)
	m.Merge(&b)
	if m.Count() != 8000 || m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged count %d min %v max %v mean %v; want %d %v %v %v", m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("p%g: merged %v, single %v", q*100, m.Quantile(q), all.Quantile(q))
		}
	}
}
