package server

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/failpoint"
	"github.com/trentkms/trent/metrics"
)

// openAudit opens the node's audit log: cfg.AuditDir, or dataDir/audit.
// It returns nil when the testing knob AuditOff is set.
func openAudit(cfg Config, dataDir, nodeID string, log *slog.Logger, m *metrics.Metrics) (*audit.Log, error) {
	if cfg.knobs().AuditOff {
		return nil, nil
	}
	dir := cfg.AuditDir
	if dir == "" {
		dir = filepath.Join(dataDir, "audit")
	}
	opts := audit.Options{Dir: dir, NodeID: nodeID, Region: cfg.Region, Logger: log,
		SyncInterval: time.Duration(cfg.AuditSyncInterval)}
	opts.Now = cfg.clockFileNow() // event times
	if m != nil {
		opts.Observer = m
	}
	if n, ok := failpoint.Int("audit-max-file-bytes"); ok { // rotation under test (-tags faultinject)
		opts.MaxFileBytes = n
	}
	return audit.Open(opts)
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
