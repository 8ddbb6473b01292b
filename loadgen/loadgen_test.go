package loadgen

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

var errRefused = errors.New("refused")

func classify(err error) (string, bool) {
	if errors.Is(err, errRefused) {
		return "connection", false
	}
	return "ThrottlingException", true
}

func TestRunMeasuresAfterTheWarmup(t *testing.T) {
	t.Parallel()
	var calls atomic.Uint64
	call := func(context.Context) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}
	var progress bytes.Buffer
	s := Run(t.Context(), Config{Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond, Classify: classify},
		[]func(context.Context) error{call, call}, &progress)
	if s.Ops == 0 || s.Ops >= calls.Load() {
		t.Fatalf("measured %d of %d calls: the warmup's must not count", s.Ops, calls.Load())
	}
	if s.Errors != 0 || s.ErrorTypes != nil {
		t.Fatalf("errors %d %v", s.Errors, s.ErrorTypes)
	}
	if l := s.LatencyMs; l.P50 < 1 || l.P50 > l.P99 || l.P99 > l.Max || s.OpsPerSecond <= 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRunCountsErrorsByType(t *testing.T) {
	t.Parallel()
	var n atomic.Uint64
	call := func(context.Context) error {
		if n.Add(1)%2 == 0 {
			return errRefused
		}
		return errors.New("slow down")
	}
	s := Run(t.Context(), Config{Duration: 100 * time.Millisecond, Classify: classify},
		[]func(context.Context) error{call}, &bytes.Buffer{})
	if s.Ops != 0 || s.Errors == 0 || s.ErrorTypes["connection"]+s.ErrorTypes["ThrottlingException"] != s.Errors {
		t.Fatalf("stats %+v", s)
	}
	if s.ErrorSamples["connection"] != "refused" || s.ErrorSamples["ThrottlingException"] != "slow down" {
		t.Fatalf("samples %v", s.ErrorSamples)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	call := func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	s := Run(ctx, Config{Duration: time.Minute, Classify: classify}, []func(context.Context) error{call}, &bytes.Buffer{})
	if s.Errors != 0 || s.Ops != 0 {
		t.Fatalf("a cancelled run counted %+v", s)
	}
}
