package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/metrics"
	"github.com/trentkms/trent/wire"
)

// TestResultOfEachProtocol: the result label of a call is the AWS error
// name its answer carries in each protocol's place for it, else what the
// protocol says failed, else ok.
func TestResultOfEachProtocol(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  string
	}{
		{"connect success", func(w http.ResponseWriter) { w.WriteHeader(200) }, "ok"},
		{"connect error", func(w http.ResponseWriter) {
			w.Header().Set(wire.ErrorTypeHeader, wire.NotFound)
			w.WriteHeader(404)
		}, wire.NotFound},
		{"grpc error in trailers", func(w http.ResponseWriter) {
			w.WriteHeader(200)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "5")
			w.Header().Set(http.TrailerPrefix+wire.ErrorTypeHeader, wire.NotFound)
		}, wire.NotFound},
		{"grpc success", func(w http.ResponseWriter) {
			w.WriteHeader(200)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}, "ok"},
		{"grpc error without a name", func(w http.ResponseWriter) {
			w.WriteHeader(200)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "14")
		}, "unavailable"},
		{"aws error", func(w http.ResponseWriter) {
			w.Header().Set("X-Amzn-Errortype", wire.AccessDenied)
			w.WriteHeader(400)
		}, wire.AccessDenied},
		{"http error", func(w http.ResponseWriter) { w.WriteHeader(404) }, "http_404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &audit.StatusWriter{ResponseWriter: httptest.NewRecorder()}
			tc.write(sw)
			if got := resultOf(sw); got != tc.want {
				t.Fatalf("result %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGateCountsItsRefusals: a call the gate refuses is counted under the
// refusal's AWS error name, with the protocol it spoke.
func TestGateCountsItsRefusals(t *testing.T) {
	m := metrics.New(metrics.Options{Operations: []string{"Encrypt"}})
	g := newGate(gateConfig{nodeID: "n1", requests: m, log: slog.New(slog.DiscardHandler)})
	g.handle("/svc/", kmsPolicy(), http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodPost, "/svc/Encrypt", nil)
	r.Header.Set("Content-Type", "application/grpc")
	g.mux.ServeHTTP(httptest.NewRecorder(), r) // no client certificate
	want := `
# HELP trent_requests_total API calls answered, by operation, protocol (connect, grpc, grpcweb, aws) and result (ok or the AWS error name).
# TYPE trent_requests_total counter
trent_requests_total{operation="Encrypt",protocol="grpc",result="UnrecognizedClientException"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "trent_requests_total"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkGateObserve is the gate's per-call share of the metrics cost:
// the status writer, the operation and result, the clock, the counters
// (a call the gate refuses: it has no client certificate).
// cpu-ns/op is this process's CPU time per call (getrusage); compare
// metrics=on with metrics=off.
func BenchmarkGateObserve(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run(map[bool]string{true: "metrics=on", false: "metrics=off"}[on], func(b *testing.B) {
			cfg := gateConfig{nodeID: "n1", log: slog.New(slog.DiscardHandler)}
			if on {
				cfg.requests = metrics.New(metrics.Options{Operations: []string{"Encrypt"}})
			}
			g := newGate(cfg)
			g.setPhase(phaseServing)
			g.handle("/trent.kms.v1.KeyManagementService/", kmsPolicy(),
				http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
			served := g.mux
			r := httptest.NewRequest(http.MethodPost, "/trent.kms.v1.KeyManagementService/Encrypt", nil)
			r.Header.Set("Content-Type", "application/proto")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() {
				served.ServeHTTP(w, r)
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
