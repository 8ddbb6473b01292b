package metrics

import (
	"maps"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Other is the operation label of a call to an operation no mounted
// service declares (a mistyped path, a made-up X-Amz-Target): the caller
// chooses that text, so it never becomes a label value.
const Other = "other"

// OK is the result label of a call that succeeded.
const OK = "ok"

// Options configures a Metrics.
type Options struct {
	// Operations are the operation names the request metrics label
	// calls with; any other name is counted as [Other].
	Operations []string
}

// Metrics is one node's registry and the collectors on it. It is safe for
// concurrent use. Its observer methods are what the measured packages'
// observer interfaces ask for.
type Metrics struct {
	reg *prometheus.Registry
	ops map[string]bool

	requests     *prometheus.CounterVec
	requestTimes *prometheus.HistogramVec
	// calls, readSeries and hsmSeries cache the series of the metrics
	// every call reports to, by label values: a call then costs a map
	// lookup and atomic adds, not a label hash and a locked lookup each.
	calls      seriesMap[callKey, *callSeries]
	readSeries seriesMap[readKey, prometheus.Counter]
	hsmSeries  seriesMap[hsmKey, prometheus.Observer]

	raftApply   *prometheus.HistogramVec
	snapshots   prometheus.Counter
	restores    prometheus.Counter
	reads       *prometheus.CounterVec
	forwards    *prometheus.HistogramVec
	hsmTimes    *prometheus.HistogramVec
	auditGroups prometheus.Histogram
	auditSyncs  prometheus.Histogram
	auditFails  prometheus.Counter
}

type (
	callKey struct{ op, protocol, result string }
	readKey struct{ call, mode, outcome string }
	hsmKey  struct{ op, result string }
)

// seriesMap caches series by label values. It is read without locks or
// allocation (a copy-on-write map: series are added a handful of times in
// a node's life, and read on every call).
type seriesMap[K comparable, V any] struct {
	mu sync.Mutex // serializes additions
	m  atomic.Pointer[map[K]V]
}

// get returns the series cached under k, adding add's the first time.
func (s *seriesMap[K, V]) get(k K, add func() V) V {
	if m := s.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	m := make(map[K]V)
	if old != nil {
		maps.Copy(m, *old)
	}
	v := add()
	m[k] = v
	s.m.Store(&m)
	return v
}

type callSeries struct {
	count prometheus.Counter
	time  prometheus.Observer
}

// Latency buckets, in seconds. A KMS call on one node takes a fraction
// of a millisecond to a few (an fsync); a write through raft a few ms; a
// call that waits for a leader up to the hold timeout (5s).
var (
	callBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	hsmBuckets  = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1}
	syncBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	// groupBuckets: records per group commit, 1 to the writer's batch
	// cap (1024).
	groupBuckets = prometheus.ExponentialBuckets(1, 2, 11)
)

// New returns a node's metrics on a fresh registry, with the Go runtime
// and process collectors.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), ops: map[string]bool{}}
	for _, op := range opts.Operations {
		m.ops[op] = true
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.requests = m.counterVec("trent_requests_total",
		"API calls answered, by operation, protocol (connect, grpc, grpcweb, aws) and result (ok or the AWS error name).",
		"operation", "protocol", "result")
	m.requestTimes = m.histogramVec("trent_request_duration_seconds",
		"Time from a call's arrival at the API listener to its answer, by operation, protocol and result.", callBuckets,
		"operation", "protocol", "result")
	m.raftApply = m.histogramVec("trent_raft_apply_duration_seconds",
		"Time for a command this node proposes as leader to commit and apply here; result is ok or error.", callBuckets, "result")
	m.snapshots = m.counter("trent_raft_snapshots_taken_total", "Snapshots of the state machine raft has taken on this node.")
	m.restores = m.counter("trent_raft_snapshots_restored_total",
		"Snapshots this node's state machine was restored from (at start, or sent by the leader).")
	m.reads = m.counterVec("trent_read_admissions_total",
		"Calls the read tracker admitted or refused, by call (read, or write: writes read the local state to decide), "+
			"consistency mode (bounded, linearizable, min_index) and outcome (served, stale, min_index, unconfirmed).",
		"call", "mode", "outcome")
	m.forwards = m.histogramVec("trent_forwarded_duration_seconds",
		"Writes and read-index requests this follower forwarded to the leader, by kind (write, read_index) and result.",
		callBuckets, "kind", "result")
	m.hsmTimes = m.histogramVec("trent_hsm_operation_duration_seconds",
		"Time of each HSM operation, by operation and result (ok or error).", hsmBuckets, "operation", "result")
	m.auditGroups = m.histogram("trent_audit_commit_records",
		"Audit records written per group commit (one write and one fsync each).", groupBuckets)
	m.auditSyncs = m.histogram("trent_audit_fsync_duration_seconds", "Time of each fsync of the audit log.", syncBuckets)
	m.auditFails = m.counter("trent_audit_write_failures_total",
		"Audit log group commits whose write or fsync failed; the node refuses calls until a write succeeds again.")
	return m
}

func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	m.reg.MustRegister(h)
	return h
}

func (m *Metrics) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(h)
	return h
}

func (m *Metrics) gaugeFunc(name, help string, labels prometheus.Labels, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

func (m *Metrics) counterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Registry returns the node's registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// RequestDone counts one answered API call and its latency. op outside
// Options.Operations counts as [Other]; result is [OK] or an AWS error
// name (names come from the node's own code, a bounded set).
func (m *Metrics) RequestDone(op, protocol, result string, d time.Duration) {
	if !m.ops[op] {
		op = Other
	}
	s := m.calls.get(callKey{op, protocol, result}, func() *callSeries {
		return &callSeries{
			count: m.requests.WithLabelValues(op, protocol, result),
			time:  m.requestTimes.WithLabelValues(op, protocol, result),
		}
	})
	s.count.Inc()
	s.time.Observe(d.Seconds())
}

// RaftApplied records a proposal's time to commit and apply (raft.Observer).
func (m *Metrics) RaftApplied(d time.Duration, err error) {
	m.raftApply.WithLabelValues(result(err)).Observe(d.Seconds())
}

// SnapshotTaken and SnapshotRestored count the state machine's snapshots.
func (m *Metrics) SnapshotTaken()    { m.snapshots.Inc() }
func (m *Metrics) SnapshotRestored() { m.restores.Inc() }

// ReadAdmitted counts the read tracker's decision on a call
// (consistency.Observer).
func (m *Metrics) ReadAdmitted(call, mode, outcome string) {
	m.readSeries.get(readKey{call, mode, outcome}, func() prometheus.Counter {
		return m.reads.WithLabelValues(call, mode, outcome)
	}).Inc()
}

// Forwarded records a call this node forwarded to the leader
// (cluster.Observer); result is "ok" or why it failed.
func (m *Metrics) Forwarded(kind, result string, d time.Duration) {
	m.forwards.WithLabelValues(kind, result).Observe(d.Seconds())
}

// HSMDone records one HSM operation.
func (m *Metrics) HSMDone(op string, d time.Duration, err error) {
	r := result(err)
	m.hsmSeries.get(hsmKey{op, r}, func() prometheus.Observer {
		return m.hsmTimes.WithLabelValues(op, r)
	}).Observe(d.Seconds())
}

// AuditCommitted, AuditSynced and AuditFailed are the audit writer's
// reports (audit.Observer): the records in one group commit, one fsync's
// time, one write or fsync failure.
func (m *Metrics) AuditCommitted(records int)  { m.auditGroups.Observe(float64(records)) }
func (m *Metrics) AuditSynced(d time.Duration) { m.auditSyncs.Observe(d.Seconds()) }
func (m *Metrics) AuditFailed()                { m.auditFails.Inc() }

// result is the result label of an outcome: ok or error.
func result(err error) string {
	if err != nil {
		return "error"
	}
	return OK
}

// Raft is what the raft collectors read at scrape time; *raft.Node is one.
type Raft interface {
	State() string
	Term() uint64
	CommitIndex() uint64
	LastContact() time.Time
}

// raftStates are the values of trent_raft_state's state label.
var raftStates = []string{"Leader", "Follower", "Candidate", "Shutdown"}

// WatchRaft exposes r's state, term, commit index and last contact.
func (m *Metrics) WatchRaft(r Raft) {
	for _, st := range raftStates {
		m.gaugeFunc("trent_raft_state", "1 for this node's raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.",
			prometheus.Labels{"state": st}, func() float64 {
				if r.State() == st {
					return 1
				}
				return 0
			})
	}
	m.gaugeFunc("trent_raft_term", "This node's current raft term.", nil, func() float64 { return float64(r.Term()) })
	m.gaugeFunc("trent_raft_commit_index", "The latest raft index this node knows to be committed.", nil,
		func() float64 { return float64(r.CommitIndex()) })
	m.gaugeFunc("trent_raft_last_contact_seconds",
		"Seconds since a follower last heard from the leader; 0 on the leader, +Inf if it never has.", nil, func() float64 {
			if r.State() == "Leader" {
				return 0
			}
			t := r.LastContact()
			if t.IsZero() {
				return math.Inf(1)
			}
			return time.Since(t).Seconds()
		})
}

// Store is what the state machine collectors read at scrape time;
// *fsm.FSM is one.
type Store interface {
	AppliedIndex() uint64
	KeyCount() int
	TotalGrants() int
}

// WatchStore exposes the state machine's applied index and its key and
// grant counts (totals: a label per account would be unbounded).
func (m *Metrics) WatchStore(s Store) {
	m.gaugeFunc("trent_raft_applied_index", "The latest raft index this node's state machine has applied.", nil,
		func() float64 { return float64(s.AppliedIndex()) })
	m.gaugeFunc("trent_keys", "KMS keys in the replicated state, in every account and key state.", nil,
		func() float64 { return float64(s.KeyCount()) })
	m.gaugeFunc("trent_grants", "Grants in the replicated state, on every key.", nil, func() float64 { return float64(s.TotalGrants()) })
}

// Reads is what the read collectors read at scrape time;
// *consistency.Tracker is one.
type Reads interface {
	MaxStaleness() time.Duration
	Age() (time.Duration, bool)
}

// WatchReads exposes the staleness bound in force and the state's age.
func (m *Metrics) WatchReads(r Reads) {
	m.gaugeFunc("trent_read_max_staleness_seconds", "The staleness bound this node serves bounded reads within.", nil,
		func() float64 { return r.MaxStaleness().Seconds() })
	m.gaugeFunc("trent_read_freshness_age_seconds",
		"Seconds since this node last confirmed its state fresh with the leader; +Inf if it never has.", nil, func() float64 {
			age, ok := r.Age()
			if !ok {
				return math.Inf(1)
			}
			return age.Seconds()
		})
}

// WatchPropagation exposes the simulated propagation delay in force on
// the node (docs/eventual-consistency.md); zero when off.
func (m *Metrics) WatchPropagation(delay func() time.Duration) {
	m.gaugeFunc("trent_simulated_propagation_seconds",
		"The simulated propagation delay bounded reads on this node are served with; 0 when the mode is off.", nil,
		func() float64 { return delay().Seconds() })
}

// WatchAuditQueue exposes how many audit records wait for the writer.
func (m *Metrics) WatchAuditQueue(depth func() int) {
	m.gaugeFunc("trent_audit_queue_depth", "Audit records queued for the writer, not yet written.", nil,
		func() float64 { return float64(depth()) })
}

// WatchStorage exposes whether writes to store ("raft" or "audit") fail
// now: failing returns the failure, nil once a write succeeds again.
func (m *Metrics) WatchStorage(store string, failing func() error) {
	m.gaugeFunc("trent_storage_failing", "1 while this node cannot write the store named by the label (raft log and votes, audit log), 0 otherwise.",
		prometheus.Labels{"store": store}, func() float64 {
			if failing() != nil {
				return 1
			}
			return 0
		})
}

// WatchNodeCertificate exposes when the node certificate in force
// expires, as a Unix time; it moves forward when the node renews it.
func (m *Metrics) WatchNodeCertificate(notAfter func() time.Time) {
	m.gaugeFunc("trent_node_certificate_expiry_timestamp_seconds",
		"When this node's certificate in force expires, in seconds since the Unix epoch.", nil,
		func() float64 { return float64(notAfter().Unix()) })
}

// HSMCache is an HSM's cache of unwrapped key material; *soft.HSM is one.
type HSMCache interface {
	CacheStats() (hits, misses uint64)
}

// WatchHSMCache exposes the unwrap cache's hits and misses; the hit ratio
// is rate(hits) / (rate(hits) + rate(misses)).
func (m *Metrics) WatchHSMCache(c HSMCache) {
	m.counterFunc("trent_hsm_unwrap_cache_hits_total", "Key material lookups the HSM served from its cache of unwrapped material.",
		func() float64 { h, _ := c.CacheStats(); return float64(h) })
	m.counterFunc("trent_hsm_unwrap_cache_misses_total", "Key material lookups that unwrapped an EKT (not cached).",
		func() float64 { _, miss := c.CacheStats(); return float64(miss) })
}
