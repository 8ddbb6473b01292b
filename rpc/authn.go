package rpc

import (
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

// RejectRevoked refuses a request whose client certificate is on the deny
// list: revoked reports whether a serial number (lowercase hex, as
// big.Int.Text(16) writes it) is revoked. It goes around Authenticate,
// which refuses requests without a certificate; each node reads its own
// replicated deny list, so a revocation takes effect on a node as soon as
// it has applied it.
func RejectRevoked(revoked func(serial string) bool, next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			if sn := r.TLS.PeerCertificates[0].SerialNumber; sn != nil && revoked(sn.Text(16)) {
				writeUnauthenticated(ew, w, r, "The client certificate has been revoked.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
