package server

import (
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/trentkms/trent/quota"
)

// Reloading the configuration (SIGHUP; see Main): the node reads its
// command line again (the config file, then the flags) and applies what
// can change while it runs. Everything else that changed is logged as
// needing a restart, and keeps its running value until then.

// reloadable are the settings Reload applies at run time, by flag name.
var reloadable = []string{"--log-level", "--max-staleness", "--audit-sync-interval", "--request-quotas"}

// Reload applies next's run-time settings (reloadable: the log level, the
// staleness bound, the audit sync interval, the request quotas) to the running node, and logs
// what it applied and which other changed settings need a restart. It
// returns both lists, by flag name. An invalid next changes nothing.
func (s *Server) Reload(next Config) (applied, restart []string, err error) {
	if err := next.Validate(); err != nil {
		s.log.Error("configuration not reloaded: it is not valid; nothing changed", "err", err)
		return nil, nil, err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	for _, name := range configChanges(s.cfg, next) {
		if !slices.Contains(reloadable, name) {
			restart = append(restart, name)
			continue
		}
		applied = append(applied, name)
		switch name {
		case "--log-level":
			lvl, _ := parseLevel(next.LogLevel)
			s.level.Set(lvl)
			if s.raftLog != nil {
				s.raftLog.SetLevel(raftLogLevel(next.LogLevel))
			}
			s.cfg.LogLevel = next.LogLevel
		case "--max-staleness":
			// Start returns a serving node: its read tracker runs.
			if reads := s.reads.Load(); reads != nil {
				reads.SetMaxStaleness(time.Duration(next.MaxStaleness))
			}
			s.cfg.MaxStaleness = next.MaxStaleness
		case "--audit-sync-interval":
			if s.audit != nil {
				s.audit.SetSyncInterval(time.Duration(next.AuditSyncInterval))
			}
			s.cfg.AuditSyncInterval = next.AuditSyncInterval
		case "--request-quotas":
			l, _ := quota.Parse(next.RequestQuotas) // Validate parsed it
			s.quotas.Set(l)
			s.cfg.RequestQuotas = next.RequestQuotas
		}
	}
	switch {
	case len(applied) > 0:
		s.log.Info("configuration reloaded", "applied", strings.Join(applied, " "), "log_level", s.cfg.LogLevel,
			"max_staleness", time.Duration(s.cfg.MaxStaleness).String(), "audit_sync_interval", time.Duration(s.cfg.AuditSyncInterval).String(),
			"request_quotas", s.quotas.Limits().String())
	case len(restart) == 0:
		s.log.Info("configuration reloaded: nothing changed")
	}
	if len(restart) > 0 {
		s.log.Warn("configuration changes need a restart to take effect; the node keeps the running values until then",
			"settings", strings.Join(restart, " "))
	}
	return applied, restart, nil
}

// configChanges returns the flag names of the settings that differ between
// a and b (the testing knobs aside).
func configChanges(a, b Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var changed []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if f.Name == "Testing" || reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		changed = append(changed, flagName(f))
	}
	return changed
}

// flagName is the flag that sets field f: its config file key with dashes
// (max_staleness: --max-staleness), or for a flag-only field its name in
// kebab case (PeerDialMap: --peer-dial-map).
func flagName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
		return "--" + strings.ReplaceAll(tag, "_", "-")
	}
	var b strings.Builder
	b.WriteString("-")
	for _, r := range f.Name {
		if unicode.IsUpper(r) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
