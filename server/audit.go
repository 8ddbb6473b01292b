package server

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
)

// openAudit opens the node's audit log: cfg.AuditDir, or dataDir/audit.
// It returns nil when the testing knob AuditOff is set.
func openAudit(cfg Config, dataDir, nodeID string, log *slog.Logger) (*audit.Log, error) {
	if cfg.knobs().AuditOff {
		return nil, nil
	}
	dir := cfg.AuditDir
	if dir == "" {
		dir = filepath.Join(dataDir, "audit")
	}
	return audit.Open(audit.Options{Dir: dir, NodeID: nodeID, Region: cfg.Region, Logger: log,
		SyncInterval: time.Duration(cfg.AuditSyncInterval)})
}

// auditInterceptors returns the interceptors that record the calls of a
// Connect service, to run outside rpc's error mapping.
func (s *Server) auditInterceptors(source string) []connect.Interceptor {
	if s.audit == nil {
		return nil
	}
	return []connect.Interceptor{s.audit.Interceptor(source)}
}

// auditRejected records the requests to a Connect service that fail before
// its interceptors run (authentication, unknown procedure, bad body).
func (s *Server) auditRejected(source string, h http.Handler) http.Handler {
	if s.audit == nil {
		return h
	}
	return s.audit.Middleware(source, h)
}

// awsAuditor is the AWS endpoint's auditor, nil when auditing is off.
func (s *Server) awsAuditor() awsapi.Auditor {
	if s.audit == nil {
		return nil
	}
	return s.audit
}

// AuditStats returns the audit writer's counters (zero when auditing is
// off): records, group commits and time spent in fsync.
func (s *Server) AuditStats() audit.Stats {
	if s.audit == nil {
		return audit.Stats{}
	}
	return s.audit.Stats()
}
