package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// TestGateCheck runs the gate's steps for each kind of caller against the
// routes' policies: who is admitted, who is refused with what, and that a
// revoked certificate is refused on every route, the open ones too.
func TestGateCheck(t *testing.T) {
	now := time.Now()
	ca, err := identity.NewCA("test", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(node bool) *x509.Certificate {
		key, _ := identity.NewKeyPair()
		var der []byte
		if node {
			der, err = ca.IssueNode("n1", identity.LoopbackHosts(), key.Public(), now, time.Hour)
		} else {
			der, err = ca.IssueClient(identity.RootPrincipal("111122223333"), key.Public(), now, time.Hour)
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	admin, node, revokedAdmin := issue(false), issue(true), issue(false)
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, ca.Certificate()}}}
	}
	forming := false
	g := newGate(func(c *x509.Certificate) error {
		if c.SerialNumber.Cmp(revokedAdmin.SerialNumber) == 0 {
			return fsm.ErrCertRevoked
		}
		return nil
	}, func() (bool, int) { return forming, 3 }, nil, slog.New(slog.DiscardHandler))
	cluster := clusterPolicies()

	for _, tc := range []struct {
		name     string
		policy   policy
		tls      *tls.ConnectionState
		header   map[string]string
		length   int64
		forming  bool
		wantCode connect.Code // 0: admitted
		wantMsg  string
		wantKind callers
	}{
		{"kms: admin", kmsPolicy(), verified(admin), nil, 100, false, 0, "", principals},
		{"kms: no certificate", kmsPolicy(), nil, nil, 100, false, connect.CodeUnauthenticated, "client certificate issued by the cluster CA is required", 0},
		{"kms: node certificate", kmsPolicy(), verified(node), nil, 100, false, connect.CodeUnauthenticated, "does not name an IAM principal", 0},
		{"kms: revoked", kmsPolicy(), verified(revokedAdmin), nil, 100, false, connect.CodeUnauthenticated, "revoked", 0},
		{"kms: unverified certificate", kmsPolicy(), &tls.ConnectionState{PeerCertificates: []*x509.Certificate{admin}}, nil, 100, false,
			connect.CodeUnauthenticated, "client certificate issued by the cluster CA is required", 0},
		{"kms: too large", kmsPolicy(), verified(admin), nil, 1 << 20, false, connect.CodeResourceExhausted, "larger than the 262144 bytes", 0},
		{"kms: forming", kmsPolicy(), verified(admin), nil, 100, true, connect.CodeUnavailable, "forming", 0},
		{"cluster admin: forming", cluster[""], verified(admin), nil, 100, true, 0, "", principals},
		{"cluster admin: no certificate", cluster[""], nil, nil, 100, false, connect.CodeUnauthenticated, "required", 0},
		{"cluster admin: revoked", cluster[""], verified(revokedAdmin), nil, 100, false, connect.CodeUnauthenticated, "revoked", 0},
		{"cluster admin: node", cluster[""], verified(node), nil, 100, false, 0, "", nodes},
		{"join: anonymous", cluster["Join"], nil, nil, 100, false, 0, "", anonymous},
		{"join: anonymous, gzip", cluster["Join"], nil, map[string]string{"Content-Encoding": "gzip"}, 100, false,
			connect.CodeInvalidArgument, "must not be compressed", 0},
		{"join: anonymous, grpc gzip", cluster["Join"], nil, map[string]string{"Grpc-Encoding": "gzip"}, 100, false,
			connect.CodeInvalidArgument, "must not be compressed", 0},
		{"join: anonymous, identity", cluster["Join"], nil, map[string]string{"Connect-Content-Encoding": "identity"}, 100, false, 0, "", anonymous},
		{"join: too large", cluster["Join"], nil, nil, 1 << 20, false, connect.CodeResourceExhausted, "larger than", 0},
		{"join: revoked", cluster["Join"], verified(revokedAdmin), nil, 100, false, connect.CodeUnauthenticated, "revoked", 0},
		{"join: forwarded by a node, gzip", cluster["Join"], verified(node), map[string]string{"Content-Encoding": "gzip"}, 100, false, 0, "", nodes},
		{"apply: node", cluster["Apply"], verified(node), nil, 512 << 10, false, 0, "", nodes},
		{"apply: admin", cluster["Apply"], verified(admin), nil, 100, false, connect.CodePermissionDenied, "Only cluster nodes", 0},
		{"apply: anonymous", cluster["Apply"], nil, nil, 100, false, connect.CodeUnauthenticated, "required", 0},
		{"health: anonymous", healthPolicy(), nil, nil, 0, true, 0, "", anonymous},
		{"health: revoked", healthPolicy(), verified(revokedAdmin), nil, 0, false, connect.CodeUnauthenticated, "revoked", 0},
		{"reflection: anonymous", reflectionPolicy(), nil, nil, 0, false, connect.CodeUnauthenticated, "required", 0},
		{"aws: anonymous (SigV4)", awsPolicy(), nil, nil, 100, false, 0, "", anonymous},
		{"aws: revoked", awsPolicy(), verified(revokedAdmin), nil, 100, false, connect.CodeUnauthenticated, "revoked", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forming = tc.forming
			r, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1/x", http.NoBody)
			r.TLS, r.ContentLength = tc.tls, tc.length
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			_, kind, ref := g.check(r, tc.policy, wireBytes(tc.policy.maxBytes))
			switch {
			case tc.wantCode == 0 && ref != nil:
				t.Fatalf("refused: %+v", ref)
			case tc.wantCode == 0 && kind != tc.wantKind:
				t.Fatalf("caller kind %v; want %v", kind, tc.wantKind)
			case tc.wantCode != 0 && (ref == nil || ref.code != tc.wantCode || !strings.Contains(ref.msg, tc.wantMsg)):
				t.Fatalf("got %+v; want %v %q", ref, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestGateRefusesUnsafeRoutes: a route cannot be mounted without limits,
// callers or an audit source, nor twice.
func TestGateRefusesUnsafeRoutes(t *testing.T) {
	ok := http.NotFoundHandler()
	for name, p := range map[string]policy{
		"no cap":     {source: "s", callers: principals, timeout: time.Second},
		"no timeout": {source: "s", callers: principals, maxBytes: 1},
		"no callers": {source: "s", maxBytes: 1, timeout: time.Second},
		"no source":  {callers: principals, maxBytes: 1, timeout: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGate(func(*x509.Certificate) error { return nil }, nil, nil, slog.New(slog.DiscardHandler))
			defer func() {
				if recover() == nil {
					t.Fatal("mounted")
				}
			}()
			g.handle("/x", p, ok)
		})
	}
	t.Run("twice", func(t *testing.T) {
		g := newGate(func(*x509.Certificate) error { return errors.New("x") }, nil, nil, slog.New(slog.DiscardHandler))
		g.handle("/x", kmsPolicy(), ok)
		defer func() {
			if recover() == nil {
				t.Fatal("mounted twice")
			}
		}()
		g.handle("/x", kmsPolicy(), ok)
	})
}

// TestCatchAllRefusesUntilReady: from the first request every path meets a
// gate route; before the node has caught up the catch-all refuses (as a
// retryable error, with a record) and afterwards serves.
func TestCatchAllRefusesUntilReady(t *testing.T) {
	log, err := audit.Open(audit.Options{Dir: t.TempDir(), NodeID: "n1", Region: "us-east-1", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	g := newGate(func(*x509.Certificate) error { return nil }, nil, log, slog.New(slog.DiscardHandler))
	late := &lateHandler{}
	p := awsPolicy()
	p.ready = late.ready
	g.handle("/", p, late)
	serve := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		g.mux.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{"/", "/trent.kms.v1.KeyManagementService/ListKeys"} {
		if w := serve(path); w.Code != http.StatusServiceUnavailable || w.Header().Get("X-Amzn-Errortype") != wire.DependencyTimeout {
			t.Fatalf("%s before ready: %d %s", path, w.Code, w.Body)
		}
	}
	if got := log.Stats().Records; got != 2 {
		t.Fatalf("%d records of the refusals; want 2", got)
	}
	late.set(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if w := serve("/"); w.Code != http.StatusTeapot {
		t.Fatalf("after ready: %d", w.Code)
	}
}

// BenchmarkGateCheck measures the gate's steps for a KMS call by a
// principal with a verified client certificate, checked against a real
// state machine: what every KMS request pays before its handler runs.
func BenchmarkGateCheck(b *testing.B) {
	now := time.Now()
	ca, err := identity.NewCA("test", nil, now)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := identity.NewKeyPair()
	der, err := ca.IssueClient(identity.RootPrincipal("111122223333"), key.Public(), now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	g := newGate(fsm.New().CheckCert, func() (bool, int) { return false, 0 }, nil, slog.New(slog.DiscardHandler))
	p := kmsPolicy()
	r, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1/trent.kms.v1.KeyManagementService/Encrypt", http.NoBody)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert, ca.Certificate()}}}
	r.ContentLength = 100
	wireCap := wireBytes(p.maxBytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ref := g.check(r, p, wireCap); ref != nil {
			b.Fatal(ref.msg)
		}
	}
}
