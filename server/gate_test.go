package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/trentkms/trent/audit"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

const testAccount = "111122223333"

// issueRoot issues another certificate for the account root from the
// node's CA: a second admin credential that a test may revoke.
func issueRoot(t *testing.T, dir string) (*http.Client, *x509.Certificate) {
	return issueCert(t, dir, identity.RootPrincipal(testAccount))
}

// issueCert issues a client certificate for p from the node's CA,
// recording it nowhere.
func issueCert(t *testing.T, dir string, p identity.Principal) (*http.Client, *x509.Certificate) {
	t.Helper()
	ca := dataDirCA(t, dir)
	key, _ := identity.NewKeyPair()
	der, err := ca.IssueClient(p, key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return httpClient(identity.ClientTLSConfig(caPool(t, dir), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})), cert
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// noCertHTTP is a client that presents no certificate.
func noCertHTTP(t *testing.T, dir string) *http.Client {
	return httpClient(&tls.Config{RootCAs: caPool(t, dir), MinVersion: tls.VersionTLS12})
}

// nodeHTTP presents the node's own certificate.
func nodeHTTP(t *testing.T, dir string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node", "cert.pem"), filepath.Join(dir, "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return httpClient(&tls.Config{RootCAs: caPool(t, dir), MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
}

func revoke(t *testing.T, s *server.Server, dir string, cert *x509.Certificate) {
	t.Helper()
	iamc := iamv1connect.NewIdentityServiceClient(adminHTTP(t, dir), "https://"+s.APIAddr())
	if _, err := iamc.RevokeCert(context.Background(), &iamv1.RevokeCertRequest{SerialNumber: cert.SerialNumber.Text(16)}); err != nil {
		t.Fatal(err)
	}
}

// probe posts a small request to path and returns the status and the
// error type the answer names.
func probe(t *testing.T, s *server.Server, hc *http.Client, path string) (int, string) {
	t.Helper()
	resp, _ := post(t, hc, "https://"+s.APIAddr(), path)
	typ := resp.Header.Get("Trent-Error-Type")
	if typ == "" {
		typ = resp.Header.Get("X-Amzn-Errortype")
	}
	return resp.StatusCode, typ
}

// post posts a small request to path at url: an AWS JSON ListKeys call to
// "/", a Connect JSON message elsewhere. It returns the answer and its
// body.
func post(t *testing.T, hc *http.Client, url, path string) (*http.Response, []byte) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	if path == "/" {
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	}
	resp, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// probePath is a request path that a route's pattern serves.
func probePath(pattern string) string {
	switch {
	case pattern == "/":
		return "/"
	case strings.HasSuffix(pattern, "/"):
		return pattern + "Probe"
	}
	return pattern
}

// TestEveryRouteGoesThroughTheGate enumerates the routes of a running
// node: every path any service answers is served by a route of the gate,
// the listener serves nothing else, and each route refuses a revoked
// certificate, one naming a user that does not exist, and (unless it is
// open to anonymous callers) a missing one, with exactly one audit record.
func TestEveryRouteGoesThroughTheGate(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	routes := server.GateRoutes(s)

	t.Run("every service path is a gate route", func(t *testing.T) {
		// Health and reflection register no descriptors here.
		paths := []string{"/v1/health/live", "/v1/health/ready", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
			"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}
		for _, name := range []protoreflect.FullName{"trent.kms.v1.KeyManagementService", "trent.iam.v1.IdentityService",
			"trent.cluster.v1.ClusterService"} {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			methods := d.(protoreflect.ServiceDescriptor).Methods()
			for i := range methods.Len() {
				paths = append(paths, "/"+string(name)+"/"+string(methods.Get(i).Name()))
			}
		}
		paths = append(paths, "/", "/metrics", "/unknown", "/trent.cluster.v1.ClusterService/Unknown", "/.well-known/x")
		for _, p := range paths {
			r, _ := http.NewRequest(http.MethodPost, "https://"+s.APIAddr()+p, nil)
			pattern, muxServes := server.ServedPattern(s, r)
			if !muxServes {
				t.Fatal("the listener does not serve the gate's mux")
			}
			if _, ok := routes[pattern]; !ok {
				t.Errorf("%s is served by %q, not a gate route", p, pattern)
			}
		}
	})

	revokedHTTP, cert := issueRoot(t, dir)
	revoke(t, s, dir, cert)
	// A certificate of the cluster CA for a user that does not exist: the
	// check must see the principal the gate parsed.
	ghost, err := identity.ParsePrincipal("arn:aws:iam::" + testAccount + ":user/ghost")
	if err != nil {
		t.Fatal(err)
	}
	ghost.ID = identity.UserIDPrefix + "GHOST00000000000"
	unknownHTTP, _ := issueCert(t, dir, ghost)
	for _, tc := range []struct {
		name    string
		hc      *http.Client
		refused bool // on every route, the anonymous ones too
	}{{"revoked certificate", revokedHTTP, true}, {"unknown principal", unknownHTTP, true}, {"no certificate", noCertHTTP(t, dir), false}} {
		for pattern, route := range routes {
			t.Run(tc.name+" "+pattern, func(t *testing.T) {
				refused := tc.refused || !route.Anonymous
				before := auditRecords(t, filepath.Join(dir, "audit"))
				status, typ := probe(t, s, tc.hc, probePath(pattern))
				after := auditRecords(t, filepath.Join(dir, "audit"))[len(before):]
				if refused {
					if typ != "UnrecognizedClientException" {
						t.Fatalf("answered %d %q; want UnrecognizedClientException", status, typ)
					}
					if len(after) != 1 || after[0].ErrorCode != "UnrecognizedClientException" || after[0].EventSource != route.Source {
						t.Fatalf("want one refusal record from %s, got %s", route.Source, recordsJSON(after))
					}
					return
				}
				if typ == "UnrecognizedClientException" && pattern != "/" {
					t.Fatalf("an anonymous caller was refused at a route open to it: %d %q", status, typ)
				}
				want := 0
				if route.AuditsAdmitted {
					want = 1
				}
				if len(after) != want {
					t.Fatalf("want %d records, got %s", want, recordsJSON(after))
				}
			})
		}
	}
}

func recordsJSON(recs []*audit.Record) string {
	b, _ := json.Marshal(recs)
	return string(b)
}

// TestRevokedAdminLosesTheClusterService is the reported bug: after the
// admin certificate was revoked, it still made join tokens.
func TestRevokedAdminLosesTheClusterService(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	hc, cert := issueRoot(t, dir)
	cl := clusterv1connect.NewClusterServiceClient(hc, "https://"+s.APIAddr())
	ctx := context.Background()
	if _, err := cl.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{}); err != nil {
		t.Fatal(err)
	}
	revoke(t, s, dir, cert)
	for name, call := range map[string]func() error{
		"CreateJoinToken": func() error { _, err := cl.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{}); return err },
		"Status":          func() error { _, err := cl.Status(ctx, &clusterv1.StatusRequest{}); return err },
		"RemoveNode":      func() error { _, err := cl.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n9"}); return err },
	} {
		t.Run(name, func(t *testing.T) {
			if err := call(); connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("got %v; want Unauthenticated", err)
			}
		})
	}
}

// TestClusterCallsAreAuditedOnce: every admin and Join call, allowed or
// refused (by the gate or the handler), leaves exactly one record from the
// cluster source, and no record carries a join token; node-to-node read
// indexes that succeed leave none.
func TestClusterCallsAreAuditedOnce(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	url := "https://" + s.APIAddr()
	admin := clusterv1connect.NewClusterServiceClient(adminHTTP(t, dir), url)
	anon := clusterv1connect.NewClusterServiceClient(noCertHTTP(t, dir), url)
	node := clusterv1connect.NewClusterServiceClient(nodeHTTP(t, dir), url)

	var tokens []string
	for _, tc := range []struct {
		name, op, errorCode string
		records             int
		call                func() error
	}{
		{"admin makes a token", "CreateJoinToken", "", 1, func() error {
			r, err := admin.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: 60})
			if err == nil {
				tokens = append(tokens, r.Token)
			}
			return err
		}},
		{"token with a bad ttl", "CreateJoinToken", "invalid_argument", 1, func() error {
			_, err := admin.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: -1})
			return err
		}},
		{"token without a certificate", "CreateJoinToken", "UnrecognizedClientException", 1, func() error {
			_, err := anon.CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{})
			return err
		}},
		{"admin status", "Status", "", 1, func() error { _, err := admin.Status(ctx, &clusterv1.StatusRequest{}); return err }},
		{"node status", "Status", "", 1, func() error { _, err := node.Status(ctx, &clusterv1.StatusRequest{}); return err }},
		{"remove an unknown node", "RemoveNode", "not_found", 1, func() error {
			_, err := admin.RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n9"})
			return err
		}},
		{"join with a bad token", "Join", "permission_denied", 1, func() error {
			_, err := anon.Join(ctx, &clusterv1.JoinRequest{Token: "trent-join-v1.x.y.z", NodeId: "n9"})
			return err
		}},
		{"join with a real token and a bad CSR", "Join", "invalid_argument", 1, func() error {
			_, err := anon.Join(ctx, &clusterv1.JoinRequest{Token: tokens[0], NodeId: "n9", RaftAddr: "127.0.0.1:1",
				ApiAddr: "127.0.0.1:2", HsmIdentity: []byte{1}, Csr: []byte("not a CSR")})
			return err
		}},
		{"promote from an admin", "Promote", "AccessDeniedException", 1, func() error {
			_, err := admin.Promote(ctx, &clusterv1.PromoteRequest{})
			return err
		}},
		{"promote from the node", "Promote", "", 1, func() error { _, err := node.Promote(ctx, &clusterv1.PromoteRequest{}); return err }},
		{"apply from an admin", "Apply", "AccessDeniedException", 1, func() error {
			_, err := admin.Apply(ctx, &clusterv1.ApplyRequest{Command: []byte("{}")})
			return err
		}},
		{"read index from an admin", "ReadIndex", "AccessDeniedException", 1, func() error {
			_, err := admin.ReadIndex(ctx, &clusterv1.ReadIndexRequest{})
			return err
		}},
		{"read index from the node (forwarding: unrecorded)", "", "", 0, func() error {
			_, err := node.ReadIndex(ctx, &clusterv1.ReadIndexRequest{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := auditRecords(t, filepath.Join(dir, "audit"))
			err := tc.call()
			if (err == nil) != (tc.errorCode == "") {
				t.Fatalf("call: %v", err)
			}
			after := auditRecords(t, filepath.Join(dir, "audit"))[len(before):]
			if len(after) != tc.records {
				t.Fatalf("want %d records, got %s", tc.records, recordsJSON(after))
			}
			if tc.records == 0 {
				return
			}
			r := after[0]
			if r.EventSource != audit.SourceCluster || r.EventName != tc.op || r.ErrorCode != tc.errorCode {
				t.Fatalf("record %s; want %s %s %q", recordsJSON(after), audit.SourceCluster, tc.op, tc.errorCode)
			}
		})
	}
	all := recordsJSON(auditRecords(t, filepath.Join(dir, "audit")))
	for _, tok := range tokens {
		secret := strings.Split(tok, ".")[2]
		if strings.Contains(all, secret) {
			t.Fatal("a join token's secret is in the audit trail")
		}
	}
}

// TestJoinErrorsHideInternals: a join that fails inside the cluster (here
// the CA refuses the CSR's key) answers without the CA's error text.
func TestJoinErrorsHideInternals(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n9"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	anon := clusterv1connect.NewClusterServiceClient(noCertHTTP(t, dir), "https://"+s.APIAddr())
	_, err = anon.Join(context.Background(), &clusterv1.JoinRequest{Token: joinToken(t, s, dir), NodeId: "n9",
		RaftAddr: "127.0.0.1:1", ApiAddr: "127.0.0.1:2", HsmIdentity: []byte{1}, Csr: csr})
	if err == nil {
		t.Fatal("a P-521 CSR was certified")
	}
	msg := connect.NewError(connect.CodeOf(err), err).Message()
	for _, internal := range []string{"P-521", "curve", "identity:", "ECDSA"} {
		if strings.Contains(msg, internal) {
			t.Fatalf("the join error tells the caller %q: %s", internal, msg)
		}
	}
}

// gzipBomb returns a gzip stream of n MiB of zeros: one member of a MiB,
// repeated (a reader inflates the members one after another).
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), n)
}

// heapAllocated is the process's cumulative heap allocation.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapInUse is the process's heap in use now.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestCompressionBombsDoNotExhaustMemory sends gzip bombs (1 GiB of zeros
// inflated) to Join without a certificate, with and without a declared
// length, and a smaller one to KMS as the admin: each is refused, the
// node allocates far less than the bomb while refusing it, its heap stays
// small, and it answers afterwards.
func TestCompressionBombsDoNotExhaustMemory(t *testing.T) {
	const limit = 64 << 20
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	url := "https://" + s.APIAddr()
	big, small := gzipBomb(t, 1024), gzipBomb(t, 200)
	for _, tc := range []struct {
		name, path string
		hc         *http.Client
		body       []byte
		hideLength bool
	}{
		{"join, no certificate", "/trent.cluster.v1.ClusterService/Join", noCertHTTP(t, dir), big, false},
		{"join, no certificate, no length", "/trent.cluster.v1.ClusterService/Join", noCertHTTP(t, dir), big, true},
		{"join, node certificate, no length", "/trent.cluster.v1.ClusterService/Join", nodeHTTP(t, dir), big, true},
		{"kms as admin", "/trent.kms.v1.KeyManagementService/Encrypt", adminHTTP(t, dir), small, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.hideLength {
				body = io.MultiReader(body)
			}
			r, _ := http.NewRequest(http.MethodPost, url+tc.path, body)
			r.Header.Set("Content-Type", "application/proto")
			r.Header.Set("Content-Encoding", "gzip")
			runtime.GC()
			allocated, inUse := heapAllocated(), heapInUse()
			resp, err := tc.hc.Do(r)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("the bomb was accepted")
				}
			}
			got := heapAllocated() - allocated
			if got > limit {
				t.Fatalf("refusing the bomb allocated %d MiB", got>>20)
			}
			// The growth, not the total: the test binary's heap holds what
			// earlier tests left (on a loaded machine, nodes still closing).
			runtime.GC()
			after := heapInUse()
			if after > inUse && after-inUse > limit {
				t.Fatalf("heap in use grew by %d MiB", (after-inUse)>>20)
			}
			t.Logf("%d-byte bomb: the request allocated %d KiB; heap in use %d MiB before, %d MiB after", len(tc.body), got>>10, inUse>>20, after>>20)
			st, err := clusterv1connect.NewClusterServiceClient(adminHTTP(t, dir), url).Status(context.Background(), &clusterv1.StatusRequest{})
			if err != nil || st.GetSelf().GetId() == "" {
				t.Fatalf("the node does not answer after the bomb: %v", err)
			}
		})
	}
}

// TestOversizedKMSRequestsAreRefused: requests above the KMS cap, declared
// or found while inflating, are refused with a clear error, audited, and
// change nothing.
func TestOversizedKMSRequestsAreRefused(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	kc := client(t, s, adminHTTP(t, dir))
	gz := client(t, s, adminHTTP(t, dir), connect.WithSendGzip())
	key, err := kc.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := func() int {
		l, err := kc.ListKeys(ctx, &kmsv1.ListKeysRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Keys)
	}
	n := keys()
	huge := strings.Repeat("x", 300<<10)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"declared length", "larger than the 262144 bytes", func() error {
			_, err := kc.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: huge})
			return err
		}},
		{"inflated size", "larger than configured max 262144", func() error {
			_, err := gz.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: huge})
			return err
		}},
		{"inflated plaintext", "larger than configured max 262144", func() error {
			_, err := gz.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key.KeyMetadata.KeyId, Plaintext: make([]byte, 1<<20)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := auditRecords(t, filepath.Join(dir, "audit"))
			err := tc.call()
			if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(connectMessage(err), tc.want) {
				t.Fatalf("got %v; want ResourceExhausted saying %q", err, tc.want)
			}
			if after := auditRecords(t, filepath.Join(dir, "audit"))[len(before):]; len(after) != 1 || after[0].ErrorCode == "" {
				t.Fatalf("want one refusal record, got %s", recordsJSON(after))
			}
			if got := keys(); got != n {
				t.Fatalf("%d keys after the refused call; want %d", got, n)
			}
		})
	}

	t.Run("AWS endpoint", func(t *testing.T) {
		body := fmt.Sprintf(`{"Description":%q}`, huge)
		if typ := rawAWS(t, s, dir, "TrentService.CreateKey", body, "AKIAUNKNOWN", "secret"); typ == "" || typ == "UnrecognizedClientException" {
			t.Fatalf("an oversized AWS request answered %q", typ)
		}
		if got := keys(); got != n {
			t.Fatalf("%d keys after the refused call; want %d", got, n)
		}
	})
}
