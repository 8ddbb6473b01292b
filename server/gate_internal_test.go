package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
	ca, err := identity.NewCA("test", nil, now.Add(-4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	issueAt := func(node bool, at time.Time) *x509.Certificate {
		key, _ := identity.NewKeyPair()
		var der []byte
		if node {
			der, err = ca.IssueNode("n1", identity.LoopbackHosts(), key.Public(), at, time.Hour)
		} else {
			der, err = ca.IssueClient(identity.RootPrincipal("111122223333"), key.Public(), at, time.Hour)
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
	issue := func(node bool) *x509.Certificate { return issueAt(node, now) }
	admin, node, revokedAdmin := issue(false), issue(true), issue(false)
	// A certificate that expired while its connection stayed open (the
	// handshake checked it when it was valid).
	expired := issueAt(false, now.Add(-3*time.Hour))
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, ca.Certificate()}}}
	}
	forming := false
	g := newGate(gateConfig{nodeID: "n1", revoked: func(c *x509.Certificate, _ *identity.Principal) error {
		if c.SerialNumber.Cmp(revokedAdmin.SerialNumber) == 0 {
			return fsm.ErrCertRevoked
		}
		return nil
	}, forming: func() (bool, int) { return forming, 3 }, log: slog.New(slog.DiscardHandler)})
	g.setPhase(phaseServing)
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
		{"kms: expired", kmsPolicy(), verified(expired), nil, 100, false, connect.CodeUnauthenticated, "expired", 0},
		{"aws: expired", awsPolicy(), verified(expired), nil, 100, false, connect.CodeUnauthenticated, "expired", 0},
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

	// While the node does not serve, the cluster routes serve its peers
	// (nodes, joiners) and nobody else: an admin's certificate is checked
	// against revocations the node may not have applied yet. Health serves
	// everyone: it says why the node is not ready.
	forming = false
	for _, ph := range []phase{phaseWaitingLeader, phaseCatchingUp, phaseClosing} {
		g.setPhase(ph)
		for _, tc := range []struct {
			name   string
			policy policy
			tls    *tls.ConnectionState
			serves bool
		}{
			{"cluster admin: admin", cluster[""], verified(admin), false},
			{"cluster admin: node", cluster[""], verified(node), true},
			{"cluster status: admin", cluster["Status"], verified(admin), true},
			{"join: anonymous", cluster["Join"], nil, true},
			{"join: admin", cluster["Join"], verified(admin), false},
			{"apply: node", cluster["Apply"], verified(node), true},
			{"kms: admin", kmsPolicy(), verified(admin), false},
			{"aws: anonymous", awsPolicy(), nil, false},
			{"health: anonymous", healthPolicy(), nil, true},
			{"health: admin", healthPolicy(), verified(admin), true},
		} {
			t.Run(fmt.Sprintf("phase %d, %s", ph, tc.name), func(t *testing.T) {
				r, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1/x", http.NoBody)
				r.TLS = tc.tls
				_, _, ref := g.check(r, tc.policy, wireBytes(tc.policy.maxBytes))
				if tc.serves != (ref == nil) || ref != nil && ref.code != connect.CodeUnavailable {
					t.Fatalf("refusal %+v; want served %v", ref, tc.serves)
				}
			})
		}
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
			g := newGate(gateConfig{revoked: func(*x509.Certificate, *identity.Principal) error { return nil }, log: slog.New(slog.DiscardHandler)})
			defer func() {
				if recover() == nil {
					t.Fatal("mounted")
				}
			}()
			g.handle("/x", p, ok)
		})
	}
	t.Run("twice", func(t *testing.T) {
		g := newGate(gateConfig{revoked: func(*x509.Certificate, *identity.Principal) error { return errors.New("x") }, log: slog.New(slog.DiscardHandler)})
		g.handle("/x", kmsPolicy(), ok)
		defer func() {
			if recover() == nil {
				t.Fatal("mounted twice")
			}
		}()
		g.handle("/x", kmsPolicy(), ok)
	})
}

// TestRefusalsUntilServing: from the first request every path meets a gate
// route. While the node is not serving (every phase but serving, and a
// sealed HSM), the catch-all and every route but the cluster's and health refuse as
// retryable, in the shape of the request's protocol, naming the node and
// the leader, with a record; serving, they serve.
func TestRefusalsUntilServing(t *testing.T) {
	log, err := audit.Open(audit.Options{Dir: t.TempDir(), NodeID: "n1", Region: "us-east-1", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	sealed := false
	g := newGate(gateConfig{nodeID: "n1", revoked: func(*x509.Certificate, *identity.Principal) error { return nil },
		sealed: func() bool { return sealed }, leaderHint: func() string { return "10.0.0.1:7700" }, audit: log,
		log: slog.New(slog.DiscardHandler)})
	late := &lateHandler{}
	teapot := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	g.handle("/", awsPolicy(), late)
	g.handle("/grpc.health.v1.Health/", healthPolicy(), teapot)
	// An anonymous Connect route that, unlike health, serves only while
	// the node serves.
	servingOnly := healthPolicy()
	servingOnly.peers = 0
	g.handle("/test.v1.Anonymous/", servingOnly, teapot)
	cluster := clusterPolicies()["Join"]
	g.handle("/trent.cluster.v1.ClusterService/Join", cluster, teapot)

	serve := func(path, contentType, target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", contentType)
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
		}
		g.mux.ServeHTTP(w, r)
		return w
	}
	// Each request names a route, its protocol and the answer's shape.
	requests := []struct {
		name, path, contentType, target string
		connect                         bool // a Connect-family answer
	}{
		{"aws", "/", "application/x-amz-json-1.1", "TrentService.ListKeys", false},
		{"aws with a JSON content type", "/", "application/json", "TrentService.ListKeys", false},
		{"connect, kms not mounted", "/trent.kms.v1.KeyManagementService/ListKeys", "application/json", "", true},
		{"grpc, kms not mounted", "/trent.kms.v1.KeyManagementService/ListKeys", "application/grpc", "", true},
		{"grpc-web, kms not mounted", "/trent.kms.v1.KeyManagementService/ListKeys", "application/grpc-web+proto", "", true},
		{"connect, anonymous route", "/test.v1.Anonymous/Call", "application/proto", "", true},
	}
	for _, state := range []struct {
		name   string
		phase  phase
		sealed bool
		msg    string
	}{
		{"waiting for a leader", phaseWaitingLeader, false, "Node n1 is starting: it knows no raft leader yet"},
		{"catching up", phaseCatchingUp, false, "Node n1 is starting: it is catching up"},
		{"sealed", phaseServing, true, "Node n1 cannot serve: its HSM is sealed"},
		{"closing", phaseClosing, false, "Node n1 is shutting down"},
	} {
		g.setPhase(state.phase)
		sealed = state.sealed
		for _, rq := range requests {
			t.Run(state.name+"/"+rq.name, func(t *testing.T) {
				records := log.Stats().Records
				w := serve(rq.path, rq.contentType, rq.target)
				h := w.Header()
				if h.Get(wire.ServedByHeader) != "n1" || h.Get(wire.LeaderHeader) != "10.0.0.1:7700" {
					t.Fatalf("served by %q, leader %q", h.Get(wire.ServedByHeader), h.Get(wire.LeaderHeader))
				}
				body := w.Body.String()
				switch {
				case !rq.connect:
					if w.Code != http.StatusServiceUnavailable || h.Get("X-Amzn-Errortype") != wire.DependencyTimeout ||
						h.Get("Content-Type") != "application/x-amz-json-1.1" ||
						!strings.Contains(body, `"__type":"DependencyTimeoutException"`) || !strings.Contains(body, state.msg) {
						t.Fatalf("%d %v %s", w.Code, h, body)
					}
				case strings.HasPrefix(rq.contentType, "application/grpc"):
					// gRPC and gRPC-Web: HTTP 200, the status in trailers
					// (recorded as headers by the recorder).
					if st := h.Get("Grpc-Status"); st != "14" || !strings.Contains(h.Get("Grpc-Message"), "n1") {
						t.Fatalf("grpc status %q message %q (%v)", st, h.Get("Grpc-Message"), h)
					}
				default:
					if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) ||
						!strings.Contains(body, state.msg) || h.Get(wire.ErrorTypeHeader) != wire.DependencyTimeout {
						t.Fatalf("%d %v %s", w.Code, h, body)
					}
				}
				if got := log.Stats().Records; got != records+1 {
					t.Fatalf("%d records of the refusal; want 1", got-records)
				}
			})
		}
		t.Run(state.name+"/cluster route serves", func(t *testing.T) {
			if w := serve("/trent.cluster.v1.ClusterService/Join", "application/json", ""); w.Code != http.StatusTeapot {
				t.Fatalf("join: %d %s", w.Code, w.Body)
			}
		})
		t.Run(state.name+"/health serves", func(t *testing.T) {
			if w := serve("/grpc.health.v1.Health/Check", "application/proto", ""); w.Code != http.StatusTeapot {
				t.Fatalf("health: %d %s", w.Code, w.Body)
			}
		})
	}
	g.setPhase(phaseServing)
	sealed = false
	late.set(teapot)
	for _, rq := range requests {
		if w := serve(rq.path, rq.contentType, rq.target); w.Code != http.StatusTeapot {
			t.Fatalf("%s serving: %d %s", rq.name, w.Code, w.Body)
		}
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
	g := newGate(gateConfig{revoked: fsm.New().CheckCertOf, log: slog.New(slog.DiscardHandler)})
	g.setPhase(phaseServing)
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
