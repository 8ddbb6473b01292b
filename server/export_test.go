package server

import "net/http"

// GateRoutes returns the patterns mounted through the gate and, for each,
// whether it admits callers without a certificate and its event source.
func GateRoutes(s *Server) map[string]RouteInfo {
	out := map[string]RouteInfo{}
	for pattern, p := range s.gate.routes {
		out[pattern] = RouteInfo{Anonymous: p.callers&anonymous != 0, NodesOnly: p.callers == nodes, Source: p.source,
			AuditsAdmitted: p.audit != auditRefusals, MaxBytes: p.maxBytes}
	}
	return out
}

// RouteInfo is a route's policy as tests see it.
type RouteInfo struct {
	Anonymous, NodesOnly, AuditsAdmitted bool
	Source                               string
	MaxBytes                             int64
}

// ServedPattern returns the mux pattern that serves r, and whether the
// listener's handler is the gate's mux.
func ServedPattern(s *Server, r *http.Request) (string, bool) {
	_, pattern := s.gate.mux.Handler(r)
	return pattern, s.http.Handler == s.gate.mux
}

// SealHSM closes s's HSM, which seals it: the node stays up but cannot
// serve KMS calls.
func SealHSM(s *Server) { s.hsm.Close() }

// KeysForgotten returns how many deleted keys s told its HSM to forget.
func KeysForgotten(s *Server) uint64 { return s.forgotten.Load() }

// HSMKind returns the name of s's HSM backend ("soft", "pkcs11").
func HSMKind(s *Server) string { return s.hsm.Capabilities().Name }
