package rpc

import (
	"crypto/x509"
	"net/http"
	"net/netip"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/kms"
)

// WithRequestInfo records facts about the connection that policies may
// test (aws:SourceIp, aws:SecureTransport) in the request context, for
// the kms authorizer. Wrap every API handler in it, the AWS endpoint too.
func WithRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := kms.RequestInfo{SecureTransport: r.TLS != nil}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			info.SourceIP = ap.Addr().Unmap()
		}
		next.ServeHTTP(w, r.WithContext(kms.WithRequestInfo(r.Context(), info)))
	})
}

// RejectRevoked refuses a request whose client certificate check refuses
// (fsm.FSM.CheckCert: the certificate is revoked, or names a user or role
// that no longer exists or is not the one it was issued to), with
// UnrecognizedClientException and check's error as the message. It goes
// around Authenticate, which refuses requests without a certificate; each
// node reads its own replicated state, so a revocation or deletion takes
// effect on a node as soon as it has applied it.
func RejectRevoked(check func(*x509.Certificate) error, next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			if err := check(r.TLS.PeerCertificates[0]); err != nil {
				writeUnauthenticated(ew, w, r, "The client certificate is not valid: "+err.Error()+".")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
