package server

import (
	"crypto/x509"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

// FuzzGateCheck feeds the gate's steps what a caller without a
// certificate controls before authentication: the path, the declared
// length and the headers the gate reads (encodings, content type,
// X-Amz-Target). It must not panic; an anonymous caller must be refused
// by every route that does not admit anonymous callers, and whenever it
// declares a compressed body; and a recorded operation name is at most
// 128 bytes.
func FuzzGateCheck(f *testing.F) {
	f.Add("/trent.cluster.v1.ClusterService/Join", int64(100), "gzip", "", "application/proto", "")
	f.Add("/", int64(-1), "", "identity", "application/x-amz-json-1.1", "TrentService.Encrypt")
	f.Add("/trent.kms.v1.KeyManagementService/Encrypt", int64(1<<30), "", "", "application/grpc", "")
	f.Add(strings.Repeat("/x", 200), int64(0), "IDENTITY ", " br", "application/grpc-web", strings.Repeat(".", 300))
	g := newGate(gateConfig{revoked: func(*x509.Certificate, *identity.Principal) error { return nil }, log: slog.New(slog.DiscardHandler)})
	g.setPhase(phaseServing)
	routes := []policy{kmsPolicy(), awsPolicy(), healthPolicy(), reflectionPolicy()}
	for _, p := range clusterPolicies() {
		routes = append(routes, p)
	}
	f.Fuzz(func(t *testing.T, path string, length int64, contentEncoding, connectEncoding, contentType, target string) {
		r, err := http.NewRequest(http.MethodPost, "https://127.0.0.1/", http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.Path = path
		r.ContentLength = length
		r.Header.Set("Content-Encoding", contentEncoding)
		r.Header.Set("Connect-Content-Encoding", connectEncoding)
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("X-Amz-Target", target)
		for _, p := range routes {
			_, kind, ref := g.check(r, p, wireBytes(p.maxBytes))
			if ref == nil {
				if kind != anonymous || p.callers&anonymous == 0 || compressed(r.Header) || length > wireBytes(p.maxBytes) {
					t.Fatalf("admitted %v to %v (compressed %v, length %d)", kind, p.callers, compressed(r.Header), length)
				}
			} else if ref.code == 0 || ref.msg == "" {
				t.Fatalf("refusal without a code or message: %+v", ref)
			}
			if c := g.call(r, p, identity.Principal{}); len(c.Operation) > 128 || c.Source != p.source {
				t.Fatalf("recorded operation %q from %q", c.Operation, c.Source)
			}
		}
	})
}
