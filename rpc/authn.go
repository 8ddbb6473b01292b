package rpc

import (
	"net/http"
	"net/netip"

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
