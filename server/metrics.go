package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/metrics"
)

// The node's metrics (package metrics) are made here: one registry per
// server, fed by the observers Start passes to raft, the cluster, the read
// tracker, the audit log and the gate, and by collectors that read the
// rest when scraped. The API listener serves them at /metrics to the
// admin (through the gate, metricsPolicy); --metrics-addr serves them
// over plain HTTP too.

// metricsPath is where both listeners serve the metrics.
const metricsPath = "/metrics"

// openMetrics makes the node's metrics and, with --metrics-addr, starts
// their plain HTTP listener. The MetricsOff testing knob leaves s.metrics
// nil: then nothing is measured.
func (s *Server) openMetrics() error {
	if s.cfg.knobs().MetricsOff {
		return nil
	}
	s.metrics = metrics.New(metrics.Options{Operations: apiOperations()})
	stop, err := metrics.ForwardHashicorp(s.metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	s.onClose(func() error { stop(); return nil })
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	s.metricsLn = ln
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, s.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics listener stopped", "err", err)
		}
	}()
	s.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	return nil
}

// MetricsAddr returns the address of the --metrics-addr listener, "" if
// there is none.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// apiOperations are the names of the procedures the API listener serves,
// the only operation label values of the request metrics besides "other"
// (AWS endpoint operations are KMS procedure names too).
func apiOperations() []string {
	ops := []string{"Check", "Watch", "ServerReflectionInfo", metricsPath[1:], path.Base(snapshotPath)}
	for _, name := range []string{kmsv1connect.KeyManagementServiceName, iamv1connect.IdentityServiceName, clusterv1connect.ClusterServiceName} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue // generated code registers every service; a test checks the labels
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			ops = append(ops, string(methods.Get(i).Name()))
		}
	}
	return ops
}

// watchHSM watches h's cache of unwrapped material, if it has one. (Its
// operations report to the metrics themselves: see openSoft.)
func (s *Server) watchHSM(h hsm.Backend) {
	if c, ok := h.(metrics.HSMCache); ok && s.metrics != nil {
		s.metrics.WatchHSMCache(c)
	}
}
