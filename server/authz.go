package server

import (
	"net/http"

	"github.com/trentkms/trent/rpc"
)

// authn wraps a native API handler: the connection facts policies test,
// then the certificate deny list, then certificate authentication.
func (s *Server) authn(h http.Handler) http.Handler {
	return rpc.WithRequestInfo(rpc.RejectRevoked(s.fsm.CertRevoked, rpc.Authenticate(h)))
}
