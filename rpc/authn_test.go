package rpc_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/rpc"
)

func TestWithRequestInfo(t *testing.T) {
	t.Parallel()
	var got kms.RequestInfo
	h := rpc.WithRequestInfo(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got, _ = kms.RequestInfoFrom(r.Context())
	}))
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = "[::ffff:10.1.2.3]:5555"
	r.TLS = &tls.ConnectionState{}
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.SourceIP != netip.MustParseAddr("10.1.2.3") || !got.SecureTransport {
		t.Fatalf("info %+v", got)
	}
	r.TLS = nil
	r.RemoteAddr = "bad"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.SourceIP.IsValid() || got.SecureTransport {
		t.Fatalf("info %+v", got)
	}
}
