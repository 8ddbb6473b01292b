package server_test

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/server"
)

// BenchmarkEncryptMetrics measures what metrics cost: Encrypt through the
// Connect handler over loopback TLS, 32 concurrent callers, on two nodes
// running side by side, one with metrics (the default: every call counted
// and timed by the gate, its read admission counted, its HSM seal timed)
// and one without (the MetricsOff knob). A shared machine's load drifts
// by more than the few percent measured, so the two are not run one after
// the other: each iteration is a pair of equal rounds, one per node, in
// alternating order, and the benchmark reports the calls per second of
// each and their ratio (with/without; the target is at least 0.97). The
// wall-clock ratio still wanders with what else the machine runs, so it
// also reports the process's CPU time per call in each node's rounds
// (getrusage: client and server, both in this process) and
// cpu-ratio, the calls per CPU second with metrics over those without:
// the throughput ratio of a machine the node had to itself.
// With the audit trail on (the default) every call also waits for its
// record's group fsync; with it off the calls are CPU-bound and metrics'
// share is largest. The control variants run two nodes without metrics
// the same way: how far their ratios stray from 1 is the noise of the
// measurement on this machine.
//
//	go test -tags hashicorpmetrics -run '^$' -bench EncryptMetrics -benchtime 40x ./server
func BenchmarkEncryptMetrics(b *testing.B) {
	for _, tc := range []struct {
		name           string
		audit, control bool
	}{{"audit=on", true, false}, {"audit=off", false, false}, {"audit=on/control", true, true}, {"audit=off/control", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			on, off := encryptLoad(b, tc.audit, !tc.control), encryptLoad(b, tc.audit, false)
			const round = 250 * time.Millisecond
			_, _ = on.run(round / 5) // warm up connections and caches
			_, _ = off.run(round / 5)
			var onCalls, offCalls int64
			var onCPU, offCPU time.Duration
			b.ResetTimer()
			for i := range b.N {
				first, second := on, off
				if i%2 == 1 {
					first, second = off, on
				}
				for _, l := range []*load{first, second} {
					calls, cpu := l.run(round)
					if l == on {
						onCalls, onCPU = onCalls+calls, onCPU+cpu
					} else {
						offCalls, offCPU = offCalls+calls, offCPU+cpu
					}
				}
			}
			b.StopTimer()
			secs := (time.Duration(b.N) * round).Seconds()
			b.ReportMetric(float64(onCalls)/secs, "calls/s-metrics")
			b.ReportMetric(float64(offCalls)/secs, "calls/s-nometrics")
			b.ReportMetric(float64(onCalls)/float64(offCalls), "ratio")
			onPer := float64(onCPU.Microseconds()) / float64(onCalls)
			offPer := float64(offCPU.Microseconds()) / float64(offCalls)
			b.ReportMetric(onPer, "cpu-µs/call-metrics")
			b.ReportMetric(offPer, "cpu-µs/call-nometrics")
			b.ReportMetric(offPer/onPer, "cpu-ratio")
		})
	}
}

// load drives Encrypt on one node.
type load struct {
	c   kmsv1connect.KeyManagementServiceClient
	req *kmsv1.EncryptRequest
}

func encryptLoad(b *testing.B, audit, metrics bool) *load {
	b.Helper()
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.Testing.AuditOff = !audit
	cfg.Testing.MetricsOff = !metrics
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c := client(nil, s, adminHTTPB(b, dir))
	ck, err := c.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	return &load{c: c, req: &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: make([]byte, 32)}}
}

// run calls Encrypt from 32 goroutines for d and returns the calls made
// and the CPU time the process spent meanwhile.
func (l *load) run(d time.Duration) (int64, time.Duration) {
	cpu0 := processCPU()
	var calls atomic.Int64
	var failed atomic.Pointer[error]
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := l.c.Encrypt(context.Background(), l.req); err != nil {
					failed.Store(&err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		panic(*err)
	}
	return calls.Load(), processCPU() - cpu0
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
