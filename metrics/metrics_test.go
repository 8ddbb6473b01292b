package metrics_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/trentkms/trent/metrics"
)

// TestNamesFollowTheConventions runs Prometheus' own linter (promlint)
// over every metric a node exposes: units in names, _total on counters,
// help on every metric.
func TestNamesFollowTheConventions(t *testing.T) {
	m := metrics.New(metrics.Options{Operations: []string{"Encrypt"}})
	feed(m)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// feed reports one of everything, so that every family has a series.
func feed(m *metrics.Metrics) {
	m.RequestDone("Encrypt", "connect", metrics.OK, time.Millisecond)
	m.RaftApplied(time.Millisecond, nil)
	m.SnapshotTaken()
	m.SnapshotRestored()
	m.ReadAdmitted("read", "bounded", "served")
	m.Forwarded("write", metrics.OK, time.Millisecond)
	m.HSMDone("Seal", time.Microsecond, nil)
	m.AuditCommitted(3)
	m.AuditSynced(time.Millisecond)
	m.AuditFailed()
	m.WatchRaft(fakeRaft{})
	m.WatchStore(fakeStore{})
	m.WatchReads(fakeReads{})
	m.WatchAuditQueue(func() int { return 0 })
	m.WatchStorage("raft", func() error { return nil })
	m.WatchStorage("audit", func() error { return nil })
	m.WatchNodeCertificate(func() time.Time { return time.Unix(1_800_000_000, 0) })
	m.WatchHSMCache(fakeCache{})
}

type fakeRaft struct{}

func (fakeRaft) State() string          { return "Leader" }
func (fakeRaft) Term() uint64           { return 2 }
func (fakeRaft) CommitIndex() uint64    { return 10 }
func (fakeRaft) LastContact() time.Time { return time.Time{} }

type fakeStore struct{}

func (fakeStore) AppliedIndex() uint64 { return 10 }
func (fakeStore) KeyCount() int        { return 3 }
func (fakeStore) TotalGrants() int     { return 1 }

type fakeReads struct{}

func (fakeReads) MaxStaleness() time.Duration { return time.Second }
func (fakeReads) Age() (time.Duration, bool)  { return 0, false }

type fakeCache struct{}

func (fakeCache) CacheStats() (uint64, uint64) { return 5, 1 }

// TestLabelsAreBounded: an operation no service declares (caller text) is
// counted as "other", and outcomes are ok or error, never an error's text.
func TestLabelsAreBounded(t *testing.T) {
	m := metrics.New(metrics.Options{Operations: []string{"Encrypt"}})
	for _, op := range []string{"Encrypt", "arn:aws:kms:us-east-1:111122223333:key/1234", "DropTables"} {
		m.RequestDone(op, "aws", metrics.OK, time.Millisecond)
	}
	m.HSMDone("Open", time.Microsecond, errors.New("hsm: message authentication failed for key 1234"))
	want := `
# HELP trent_requests_total API calls answered, by operation, protocol (connect, grpc, grpcweb, aws) and result (ok or the AWS error name).
# TYPE trent_requests_total counter
trent_requests_total{operation="Encrypt",protocol="aws",result="ok"} 1
trent_requests_total{operation="other",protocol="aws",result="ok"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "trent_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "trent_hsm_operation_duration_seconds"); n != 1 {
		t.Errorf("%d HSM series, want 1", n)
	}
	out, err := testutil.CollectAndFormat(m.Registry(), expfmt.TypeTextPlain, "trent_hsm_operation_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "1234") || !strings.Contains(string(out), `result="error"`) {
		t.Errorf("HSM series:\n%s", out)
	}
}

// BenchmarkPerCall is what metrics add to every Encrypt: the gate's
// request count and latency, the read admission, the HSM seal's latency.
// Compare with Encrypt's CPU cost per call (BenchmarkEncryptMetrics in
// package server). On a shared machine ns/op counts the time other
// processes held the CPU too; cpu-ns/op is this process's CPU time per
// call (getrusage), the cost to compare.
func BenchmarkPerCall(b *testing.B) {
	m := metrics.New(metrics.Options{Operations: []string{"Encrypt"}})
	b.ReportAllocs()
	b.SetParallelism(16)
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			m.ReadAdmitted("read", "bounded", "served")
			m.HSMDone("Seal", time.Since(start), nil)
			m.RequestDone("Encrypt", "connect", metrics.OK, time.Since(start))
		}
	})
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
