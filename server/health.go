package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/trentkms/trent/consistency"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// Health endpoints for load balancers and Kubernetes probes, open to
// anonymous callers and answered in every phase of the node (the gate
// refuses no health call for not serving: saying why is their job).
//
//   - GET /v1/health/live answers 200 while the process serves HTTP at
//     all: a liveness probe restarts only a node that answers nothing.
//   - GET /v1/health/ready answers 200 when the node serves KMS and IAM
//     calls (see [Server.readiness]) and 503 otherwise, with the reasons.
//   - The gRPC health service (grpc.health.v1.Health) reports the same
//     readiness: SERVING or NOT_SERVING, for the whole node ("") and for
//     each of the KMS and IAM services.
const (
	livePath  = "/v1/health/live"
	readyPath = "/v1/health/ready"
)

// healthReport is the JSON body of the health endpoints.
type healthReport struct {
	Node string `json:"node"`
	// Status is "live", "ready" or "not ready".
	Status string `json:"status"`
	// Phase is starting (no leader yet), catching-up, serving or closing.
	Phase string `json:"phase"`
	// Reasons say why the node is not ready; empty when it is.
	Reasons []string `json:"reasons,omitempty"`
	// Leader is the raft leader's node id, "" if none is known.
	Leader string `json:"leader,omitempty"`
	// MaxStaleness is the node's staleness bound, and FreshAge how long
	// ago its state was last confirmed with the leader (absent until it
	// was).
	MaxStaleness string `json:"max_staleness,omitempty"`
	FreshAge     string `json:"fresh_age,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
}

var phaseNames = map[phase]string{phaseWaitingLeader: "starting", phaseCatchingUp: "catching-up", phaseServing: "serving", phaseClosing: "closing"}

// readiness reports whether the node is ready to serve KMS and IAM calls:
// it has caught up and serves (not starting or closing), its HSM is
// unsealed, the cluster is formed, a raft leader is known, and its state
// was confirmed with that leader within its staleness bound (bounded
// reads are served without waiting). The report lists every reason that
// holds.
func (s *Server) readiness() healthReport {
	ph := phase(s.gate.phase.Load())
	r := healthReport{Node: s.nodeID, Phase: phaseNames[ph], AppliedIndex: s.fsm.AppliedIndex()}
	switch ph {
	case phaseWaitingLeader:
		r.Reasons = append(r.Reasons, "starting: no raft leader is known yet")
	case phaseCatchingUp:
		r.Reasons = append(r.Reasons, "starting: catching up with the cluster's log")
	case phaseClosing:
		r.Reasons = append(r.Reasons, "shutting down")
	}
	if s.gate.sealed() {
		r.Reasons = append(r.Reasons, "the HSM is sealed")
	}
	if s.audit != nil {
		if err := s.audit.Failing(); err != nil {
			r.Reasons = append(r.Reasons, "the audit log cannot be written, so calls are refused: "+err.Error())
		}
	}
	if s.raft != nil {
		if err := s.raft.StorageFailing(); err != nil {
			r.Reasons = append(r.Reasons, "the raft log cannot be written, so this node accepts no entries: "+err.Error())
		}
	}
	if forming, want := s.gate.forming(); forming {
		r.Reasons = append(r.Reasons, fmt.Sprintf("the cluster is forming: it waits for %d voters (--bootstrap-expect)", want))
	}
	if ph == phaseServing {
		// Raft and the read tracker stay up until the HTTP server has
		// drained, so a serving node's are there.
		if r.Leader, _ = s.raft.Leader(); r.Leader == "" {
			r.Reasons = append(r.Reasons, "no raft leader is known")
		}
		if reads := s.reads.Load(); reads != nil {
			bound := reads.MaxStaleness()
			r.MaxStaleness = bound.String()
			age, ok := reads.Age()
			switch {
			case !ok:
				r.Reasons = append(r.Reasons, "its state has not been confirmed with a leader since it started")
			case age > bound:
				r.Reasons = append(r.Reasons, fmt.Sprintf("its state was last confirmed with the leader %s ago, longer than its staleness bound of %s",
					consistency.FormatBound(age), bound))
			}
			if ok {
				r.FreshAge = consistency.FormatBound(age)
			}
		}
	}
	r.Status = "ready"
	if len(r.Reasons) > 0 {
		r.Status = "not ready"
	}
	return r
}

// mountHealth mounts the health endpoints and the gRPC health service.
func (s *Server) mountHealth(g *gate) {
	g.handle(livePath, healthPolicy(), healthHandler(func() (healthReport, bool) {
		r := healthReport{Node: s.nodeID, Status: "live", Phase: phaseNames[phase(g.phase.Load())], AppliedIndex: s.fsm.AppliedIndex()}
		return r, true
	}))
	g.handle(readyPath, healthPolicy(), healthHandler(func() (healthReport, bool) {
		r := s.readiness()
		return r, len(r.Reasons) == 0
	}))
	g.connect("", healthPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpchealth.NewHandler(readyChecker{s}, limits...)
	})
}

// healthHandler answers GET and HEAD with report's JSON: 200 when ok,
// else 503.
func healthHandler(report func() (healthReport, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"error":"use GET or HEAD"}` + "\n"))
			return
		}
		rep, ok := report()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(rep)
		}
	})
}

// readyChecker is the gRPC health service's view of [Server.readiness].
type readyChecker struct{ s *Server }

func (c readyChecker) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", kmsv1connect.KeyManagementServiceName, iamv1connect.IdentityServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown service "+req.Service))
	}
	if len(c.s.readiness().Reasons) > 0 {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// watchInterval is how often a Watch stream rechecks readiness.
const watchInterval = time.Second

// Watch rechecks readiness every watchInterval; the handler sends only
// changes. A stream ends with the route's timeout.
func (c readyChecker) Watch(ctx context.Context, req *grpchealth.CheckRequest, onChange func()) (func(), error) {
	if _, err := c.Check(ctx, req); err != nil {
		return nil, err
	}
	t := time.NewTicker(watchInterval)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-t.C:
				onChange()
			}
		}
	}()
	return func() { t.Stop(); close(done) }, nil
}
