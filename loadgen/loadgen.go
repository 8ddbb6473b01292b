// Package loadgen generates load and measures it: one worker per call
// function, each calling in a loop for a warmup and then a measured
// duration, latencies recorded in a fixed-memory log-linear histogram,
// errors counted by type, a progress line about once a second, and a
// summary at the end. It backs `trent bench`; what the calls do is the
// caller's.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// grace is how long calls in flight at the end of the run may take before
// they are cancelled.
const grace = 5 * time.Second

// Config says how long to run and how to tell errors apart.
type Config struct {
	Warmup   time.Duration // unmeasured time before the run
	Duration time.Duration // measured time; no call starts after it
	// Classify names the type of a failed call's error (counted and
	// sampled per type) and says whether the server answered it; a call
	// that failed without an answer (a dead connection) is retried after
	// a short pause instead of at once.
	Classify func(error) (typ string, fromServer bool)
	// Measuring, if set, is called when the warmup ends (on its own
	// goroutine), e.g. to read counters the run is measured by.
	Measuring func()
}

// Stats is the measurement of a run. Its fields are the measured part of
// `trent bench --json`'s summary.
type Stats struct {
	DurationSeconds float64           `json:"duration_seconds"`
	Ops             uint64            `json:"ops"`
	Errors          uint64            `json:"errors"`
	OpsPerSecond    float64           `json:"ops_per_second"`
	LatencyMs       Latency           `json:"latency_ms"`
	ErrorTypes      map[string]uint64 `json:"error_types,omitempty"`
	ErrorSamples    map[string]string `json:"error_samples,omitempty"`
}

// Latency summarises the measured calls' latencies, in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
}

// Run starts one worker per call and returns when the run is over or ctx
// is cancelled. It writes progress lines to progress. Calls that start
// during the warmup are not measured.
func Run(ctx context.Context, cfg Config, calls []func(context.Context) error, progress io.Writer) *Stats {
	r := &run{
		cfg:       cfg,
		hists:     make([]histogram, max(1, min(len(calls), runtime.GOMAXPROCS(0)))),
		errTypes:  make(map[string]uint64),
		errSample: make(map[string]string),
	}
	r.run(ctx, calls, progress)
	return r.stats()
}

// run is the state of one run.
type run struct {
	cfg       Config
	measureAt time.Time // end of the warmup
	endAt     time.Time // no call starts after this
	finished  time.Time

	ops, errs atomic.Uint64 // measured calls
	hists     []histogram   // shards of the latency histogram

	mu        sync.Mutex // guards the following fields
	errTypes  map[string]uint64
	errSample map[string]string
}

func (r *run) run(ctx context.Context, calls []func(context.Context) error, progress io.Writer) {
	start := time.Now()
	r.measureAt = start.Add(r.cfg.Warmup)
	r.endAt = r.measureAt.Add(r.cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, r.endAt.Add(grace))
	defer cancel()
	if r.cfg.Measuring != nil {
		t := time.AfterFunc(time.Until(r.measureAt), r.cfg.Measuring)
		defer t.Stop()
	}

	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { r.worker(runCtx, call, &r.hists[i%len(r.hists)]) })
	}
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(done, progress)
	}()
	wg.Wait()
	r.finished = time.Now()
	close(done)
	<-progressDone
}

func (r *run) worker(ctx context.Context, call func(context.Context) error, h *histogram) {
	for ctx.Err() == nil {
		start := time.Now()
		if !start.Before(r.endAt) {
			return
		}
		err := call(ctx)
		lat := time.Since(start)
		if err != nil {
			if ctx.Err() != nil {
				return // stopped, not failed
			}
			typ, fromServer := r.cfg.Classify(err)
			if !start.Before(r.measureAt) {
				r.errs.Add(1)
				r.noteError(typ, err)
			}
			if !fromServer {
				time.Sleep(10 * time.Millisecond) // don't spin on a dead connection
			}
			continue
		}
		if !start.Before(r.measureAt) {
			r.ops.Add(1)
			h.Record(lat)
		}
	}
}

func (r *run) noteError(typ string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errTypes[typ]++
	if _, ok := r.errSample[typ]; !ok {
		r.errSample[typ] = err.Error()
	}
}

// progress prints a line about once a second until done is closed.
func (r *run) progress(done <-chan struct{}, w io.Writer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastT, lastOps := r.measureAt, uint64(0)
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if now.Before(r.measureAt) {
				fmt.Fprintf(w, "[warmup %.0fs/%.0fs]\n", now.Sub(r.measureAt.Add(-r.cfg.Warmup)).Seconds(), r.cfg.Warmup.Seconds())
				continue
			}
			ops, errs := r.ops.Load(), r.errs.Load()
			rate := 0.0
			if dt := now.Sub(lastT).Seconds(); dt > 0 {
				rate = float64(ops-lastOps) / dt
			}
			fmt.Fprintf(w, "[%6.1fs] ops=%d  %.0f ops/s  errors=%d\n", now.Sub(r.measureAt).Seconds(), ops, rate, errs)
			lastT, lastOps = now, ops
		}
	}
}

func (r *run) stats() *Stats {
	var h histogram
	for i := range r.hists {
		h.Merge(&r.hists[i])
	}
	elapsed := max(r.finished.Sub(r.measureAt), 0)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	s := &Stats{
		DurationSeconds: elapsed.Seconds(),
		Ops:             r.ops.Load(),
		Errors:          r.errs.Load(),
		LatencyMs: Latency{
			Mean: ms(h.Mean()),
			P50:  ms(h.Quantile(0.50)),
			P90:  ms(h.Quantile(0.90)),
			P99:  ms(h.Quantile(0.99)),
			P999: ms(h.Quantile(0.999)),
			Max:  ms(h.Max()),
		},
	}
	if elapsed > 0 {
		s.OpsPerSecond = float64(s.Ops) / elapsed.Seconds()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errTypes) > 0 {
		s.ErrorTypes = maps.Clone(r.errTypes)
		s.ErrorSamples = maps.Clone(r.errSample)
	}
	return s
}
