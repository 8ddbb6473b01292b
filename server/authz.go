package server

import (
	"net/http"

	"github.com/trentkms/trent/rpc"
)

// authn wraps a native API handler: the connection facts policies test,
// then the certificate check (the deny list, and whether the user or role
// a certificate names still exists and is the one it was issued to), then
// certificate authentication.
func (s *Server) authn(h http.Handler) http.Handler {
	return rpc.WithRequestInfo(rpc.RejectRevoked(s.fsm.CheckCert, rpc.Authenticate(h)))
}
