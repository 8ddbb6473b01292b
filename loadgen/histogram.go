package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, as HdrHistogram: values below 2^subBits
// nanoseconds have a bucket each, and every power-of-two range above is
// split into 2^subBits equal buckets. A bucket's width is at most
// 1/2^subBits (0.78%) of its lower bound, and quantiles report the bucket
// midpoint, so they are within 0.4% of a recorded value.
const (
	subBits  = 7
	subCount = 1 << subBits
	maxBits  = 40 // values are clamped below 2^40 ns, about 18 minutes
	maxValue = 1<<maxBits - 1
	nBuckets = (maxBits - subBits + 1) * subCount // 4352: 34 KiB of counters
)

// histogram records durations in fixed memory. Record is safe for
// concurrent use; read quantiles once recording has stopped.
type histogram struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	min    atomic.Uint64 // nanoseconds + 1; 0 means none
	max    atomic.Uint64 // nanoseconds
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 - subBits // v >> e is in [subCount, 2*subCount)
	return (e+1)<<subBits + int(v>>e-subCount)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	e := i>>subBits - 1
	m := uint64(i&(subCount-1) + subCount)
	return m << e, (m+1)<<e - 1
}

// Record adds one observation.
func (h *histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	v = min(v, maxValue)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
	for cur := h.min.Load(); (cur == 0 || v+1 < cur) && !h.min.CompareAndSwap(cur, v+1); cur = h.min.Load() {
	}
}

// Merge adds the observations of o.
func (h *histogram) Merge(o *histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	if m := o.min.Load(); m != 0 && (h.min.Load() == 0 || m < h.min.Load()) {
		h.min.Store(m)
	}
}

// Count is the number of observations.
func (h *histogram) Count() uint64 { return h.n.Load() }

// Max is the largest observation.
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the smallest observation.
func (h *histogram) Min() time.Duration {
	if m := h.min.Load(); m > 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Mean is the average observation.
func (h *histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value below which a fraction q of the observations
// fall (q in [0, 1]); 0 when empty.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return min(max(time.Duration(mid), h.Min()), h.Max())
		}
	}
	return h.Max()
}
