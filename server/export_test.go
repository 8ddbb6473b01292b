package server

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/hsm"
)

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
// listener's handler is the gate's mux (run on warm workers).
func ServedPattern(s *Server, r *http.Request) (string, bool) {
	_, pattern := s.gate.mux.Handler(r)
	warm, ok := s.http.Handler.(*warmHandlers)
	return pattern, ok && warm.next == s.gate.mux
}

// SealHSM closes s's HSM, which seals it: the node stays up but cannot
// serve KMS calls.
func SealHSM(s *Server) { s.hsm.Close() }

// KeysForgotten returns how many deleted keys s told its HSM to forget.
func KeysForgotten(s *Server) uint64 { return s.forgotten.Load() }

// HSMKind returns the name of s's HSM backend ("soft", "pkcs11").
func HSMKind(s *Server) string { return s.hsm.Capabilities().Name }

// DomainKeyIDs returns the domain keys s's HSM holds, the current first.
func DomainKeyIDs(s *Server) [][16]byte {
	if r, ok := s.hsm.(interface{ DomainKeyIDs() [][16]byte }); ok {
		return r.DomainKeyIDs()
	}
	return nil
}

// CurrentEKT returns the EKT of key id's current version in s's state.
func CurrentEKT(s *Server, id string) []byte {
	k, ok := s.fsm.Key(id)
	if !ok {
		return nil
	}
	v, _ := k.Current()
	return v.EKT
}

// KeyVersionRef names key id's current version for an HSM.
func KeyVersionRef(s *Server, id string) (keyID, versionID [16]byte, ekt []byte) {
	k, _ := s.fsm.Key(id)
	v, _ := k.Current()
	kb, _ := hex.DecodeString(strings.ReplaceAll(k.ID, "-", ""))
	vb, _ := hex.DecodeString(v.ID)
	return [16]byte(kb), [16]byte(vb), v.EKT
}

// UnwrapsEKT reports whether s's HSM opens key id's version (keyID,
// versionID) from ekt: it re-wraps it under its current domain key.
func UnwrapsEKT(s *Server, keyID, versionID [16]byte, ekt []byte) error {
	r, ok := s.hsm.(hsm.DomainRotator)
	if !ok {
		return hsm.ErrUnsupported
	}
	_, err := r.RewrapEKT(context.Background(), hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: ekt}, s.hsm.DomainKeyID())
	return err
}

// DomainRotation returns s's replicated domain-key rotation record.
func DomainRotation(s *Server) *fsm.DomainRotation { return s.fsm.DomainRotation() }
