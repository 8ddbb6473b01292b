package rpc_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/rpc"
)

func TestRejectRevoked(t *testing.T) {
	t.Parallel()
	check := func(c *x509.Certificate) error {
		if c.SerialNumber.Int64() == 31 {
			return errors.New("the client certificate has been revoked")
		}
		return nil
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := rpc.RejectRevoked(check, ok)
	tests := []struct {
		name   string
		tls    *tls.ConnectionState
		status int
	}{
		{"revoked", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{SerialNumber: big.NewInt(31)}}}, http.StatusUnauthorized},
		{"not revoked", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{SerialNumber: big.NewInt(32)}}}, http.StatusNoContent},
		{"no certificate", &tls.ConnectionState{}, http.StatusNoContent}, // Authenticate refuses it
		{"plain http", nil, http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/trent.kms.v1.KeyManagementService/ListKeys", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r.TLS = tc.tls
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == http.StatusUnauthorized && !strings.Contains(w.Body.String(), "revoked") {
				t.Fatalf("body %s does not say revoked", w.Body)
			}
		})
	}
}

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
