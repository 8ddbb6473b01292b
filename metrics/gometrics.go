//go:build hashicorpmetrics

package metrics

import (
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	gmprometheus "github.com/hashicorp/go-metrics/prometheus"
)

// hashicorp/raft, memberlist and (with this build tag) raft-boltdb report
// their internals through hashicorp/go-metrics, whose sink is one global
// of the process. The first node to start installs a fan-out sink there
// (not at init: a binary that runs no node keeps the default, which
// discards everything); each node adds a go-metrics Prometheus sink
// registered on its own registry, and removes it when it closes. The
// libraries' metrics name no node, so nodes sharing a process (tests) each
// see all of theirs; a real deployment runs one node per process.

var (
	fanoutOnce sync.Once
	fanout     = &fanoutSink{}
)

// ForwardHashicorp routes the go-metrics of hashicorp/raft, memberlist
// and raft-boltdb into m's registry, named trent_raft_..., trent_memberlist_...
// as go-metrics names them (dots become underscores), until stop is called.
func ForwardHashicorp(m *Metrics) (stop func(), err error) {
	var installErr error
	fanoutOnce.Do(func() {
		cfg := gometrics.DefaultConfig("trent")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false // the Go collector reports the runtime
		cfg.TimerGranularity = time.Millisecond
		_, installErr = gometrics.NewGlobal(cfg, fanout)
	})
	if installErr != nil {
		return nil, installErr
	}
	sink, err := gmprometheus.NewPrometheusSinkFrom(gmprometheus.PrometheusOpts{
		Registerer: m.reg,
		Name:       "trent_hashicorp_sink",
		// A series not reported for this long is dropped (a peer that
		// left stops being a label of replication metrics).
		Expiration: 5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	fanout.add(sink)
	return func() { fanout.remove(sink) }, nil
}

// fanoutSink sends every go-metrics report to the sinks of the running
// nodes.
type fanoutSink struct {
	mu    sync.RWMutex
	sinks []gometrics.MetricSink
}

func (f *fanoutSink) add(s gometrics.MetricSink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinks = append(f.sinks, s)
}

func (f *fanoutSink) remove(s gometrics.MetricSink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.sinks {
		if x == s {
			f.sinks = append(f.sinks[:i:i], f.sinks[i+1:]...)
			return
		}
	}
}

func (f *fanoutSink) each(fn func(gometrics.MetricSink)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, s := range f.sinks {
		fn(s)
	}
}

func (f *fanoutSink) SetGauge(key []string, val float32) {
	f.each(func(s gometrics.MetricSink) { s.SetGauge(key, val) })
}

func (f *fanoutSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(s gometrics.MetricSink) { s.SetGaugeWithLabels(key, val, labels) })
}

func (f *fanoutSink) EmitKey(key []string, val float32) {
	f.each(func(s gometrics.MetricSink) { s.EmitKey(key, val) })
}

func (f *fanoutSink) IncrCounter(key []string, val float32) {
	f.each(func(s gometrics.MetricSink) { s.IncrCounter(key, val) })
}

func (f *fanoutSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(s gometrics.MetricSink) { s.IncrCounterWithLabels(key, val, labels) })
}

func (f *fanoutSink) AddSample(key []string, val float32) {
	f.each(func(s gometrics.MetricSink) { s.AddSample(key, val) })
}

func (f *fanoutSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(s gometrics.MetricSink) { s.AddSampleWithLabels(key, val, labels) })
}
