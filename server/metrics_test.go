package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// scrape fetches url and parses the text exposition format.
func scrape(t testing.TB, hc *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// series finds the series of family name whose labels include want
// (name=value pairs); nil if none.
func series(fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count; 0 for a
// series that does not exist (yet).
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := series(fams, name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMetricsMoveWithLoad scrapes a real node's --metrics-addr listener
// before and after a known load, and checks that each metric moved by
// exactly what the load did.
func TestMetricsMoveWithLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MetricsAddr = "127.0.0.1:0"
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "http://" + s.MetricsAddr() + "/metrics"
	plain := &http.Client{}
	ctx := context.Background()
	c := client(t, s, adminHTTP(t, dir))
	ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	ak, err := iamv1connect.NewIdentityServiceClient(adminHTTP(t, dir), "https://"+s.APIAddr()).
		CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sdk := awsClient(t, s, dir, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey)

	before := scrape(t, plain, url)
	const n = 7
	for range n {
		if _, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	grpc := client(t, s, adminHTTP(t, dir), connect.WithGRPC())
	for range 2 {
		_, err := grpc.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: "alias/missing", Plaintext: []byte("x")})
		assertAWSError(t, err, connect.CodeNotFound, "NotFoundException")
	}
	_, err = client(t, s, adminHTTP(t, dir), connect.WithGRPCWeb()).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: "alias/missing", Plaintext: []byte("x")})
	assertAWSError(t, err, connect.CodeNotFound, "NotFoundException")
	for range 3 {
		if _, err := sdk.Encrypt(ctx, &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sdk.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/missing"), Plaintext: []byte("x")}); err == nil {
		t.Fatal("Encrypt under a missing alias succeeded")
	}
	after := scrape(t, plain, url)

	delta := func(name string, labels ...string) float64 {
		return value(after, name, labels...) - value(before, name, labels...)
	}
	okEncrypt := []string{"operation", "Encrypt", "protocol", "connect", "result", "ok"}
	refused := []string{"operation", "Encrypt", "protocol", "grpc", "result", "NotFoundException"}
	for _, tc := range []struct {
		what       string
		got, want  float64
		atLeastOne bool
	}{
		{what: "Encrypt calls counted", got: delta("trent_requests_total", okEncrypt...), want: n},
		{what: "Encrypt latencies observed", got: delta("trent_request_duration_seconds", okEncrypt...), want: n},
		{what: "refused Encrypts counted under their error name", got: delta("trent_requests_total", refused...), want: 2},
		{what: "refused Encrypts' latencies observed", got: delta("trent_request_duration_seconds", refused...), want: 2},
		{what: "refused gRPC-Web Encrypt counted", got: delta("trent_requests_total", "operation", "Encrypt", "protocol", "grpcweb", "result", "NotFoundException"), want: 1},
		{what: "AWS endpoint Encrypts counted", got: delta("trent_requests_total", "operation", "Encrypt", "protocol", "aws", "result", "ok"), want: 3},
		{what: "refused AWS endpoint Encrypt counted", got: delta("trent_requests_total", "operation", "Encrypt", "protocol", "aws", "result", "NotFoundException"), want: 1},
		{what: "bounded reads admitted", got: delta("trent_read_admissions_total", "call", "read", "mode", "bounded", "outcome", "served"), want: n + 2 + 1 + 4},
		{what: "HSM seals timed", got: delta("trent_hsm_operation_duration_seconds", "operation", "Seal", "result", "ok"), want: n + 3},
		{what: "unwrap cache hits", got: delta("trent_hsm_unwrap_cache_hits_total"), want: n + 3},
		{what: "unwrap cache misses", got: delta("trent_hsm_unwrap_cache_misses_total"), want: 0},
		{what: "no CreateKey in the window", got: delta("trent_requests_total", "operation", "CreateKey"), want: 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: moved by %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	// Audit group commits: every call is recorded before it is answered.
	if got := delta("trent_audit_commit_records"); got < 1 {
		t.Errorf("audit group commits: moved by %v, want at least 1", got)
	}
	if got := delta("trent_audit_fsync_duration_seconds"); got < 1 {
		t.Errorf("audit fsyncs: moved by %v, want at least 1", got)
	}

	// State read at scrape time.
	for _, tc := range []struct {
		name   string
		labels []string
		want   func(float64) bool
		says   string
	}{
		{"trent_raft_state", []string{"state", "Leader"}, func(v float64) bool { return v == 1 }, "1 (a single node leads)"},
		{"trent_raft_state", []string{"state", "Follower"}, func(v float64) bool { return v == 0 }, "0"},
		{"trent_raft_term", nil, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"trent_raft_applied_index", nil, func(v float64) bool { return v >= 1 && v <= value(after, "trent_raft_commit_index") }, "in [1, commit index]"},
		{"trent_raft_last_contact_seconds", nil, func(v float64) bool { return v == 0 }, "0 on the leader"},
		{"trent_keys", nil, func(v float64) bool { return v == 1 }, "1"},
		{"trent_grants", nil, func(v float64) bool { return v == 0 }, "0"},
		{"trent_read_max_staleness_seconds", nil, func(v float64) bool { return v == 1 }, "1 (the default bound)"},
		{"trent_simulated_propagation_seconds", nil, func(v float64) bool { return v == 0 }, "0 (the mode is off)"},
		{"trent_audit_queue_depth", nil, func(v float64) bool { return v >= 0 }, "present"},
		{"trent_storage_failing", []string{"store", "raft"}, func(v float64) bool { return v == 0 }, "0 (the disk works)"},
		{"trent_storage_failing", []string{"store", "audit"}, func(v float64) bool { return v == 0 }, "0 (the disk works)"},
		{"trent_node_certificate_expiry_timestamp_seconds", nil, func(v float64) bool {
			return v > float64(time.Now().Add(364*24*time.Hour).Unix()) && v < float64(time.Now().Add(366*24*time.Hour).Unix())
		}, "a year from now"},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }, "> 0"},
	} {
		if series(after, tc.name, tc.labels...) == nil {
			t.Errorf("%s%v: missing", tc.name, tc.labels)
			continue
		}
		if v := value(after, tc.name, tc.labels...); !tc.want(v) {
			t.Errorf("%s%v = %v, want %s", tc.name, tc.labels, v, tc.says)
		}
	}
	if raftApplies := value(after, "trent_raft_apply_duration_seconds", "result", "ok"); raftApplies < 1 {
		t.Errorf("raft applies observed: %v, want at least CreateKey's", raftApplies)
	}
	for _, name := range hashicorpMetrics {
		if after[name] == nil {
			t.Errorf("hashicorp/raft's %s is not forwarded", name)
		}
	}
}

// nonAdmin is a caller an admin-only route refuses, and how.
type nonAdmin struct {
	name   string
	hc     *http.Client
	status int
	typ    string
}

// nonAdmins are the callers that admin-only routes (/metrics,
// /debug/pprof/) refuse: an IAM user of the admin account, a cluster
// node, and a client without a certificate.
func nonAdmins(t *testing.T, s *server.Server, dir string) []nonAdmin {
	t.Helper()
	user := clientForPrincipal(t, s, dir, "arn:aws:iam::"+testAccount+":user/not-the-admin")
	return []nonAdmin{
		{"IAM user of the admin account", user, http.StatusForbidden, "AccessDeniedException"},
		{"cluster node", nodeHTTP(t, dir), http.StatusUnauthorized, "UnrecognizedClientException"},
		{"no certificate", noCertHTTP(t, dir), http.StatusUnauthorized, "UnrecognizedClientException"},
	}
}

// TestMetricsOnTheAPIPortAreForTheAdmin: /metrics on the API listener
// answers the admin account's root, and refuses every other caller.
func TestMetricsOnTheAPIPortAreForTheAdmin(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	url := "https://" + s.APIAddr() + "/metrics"
	fams := scrape(t, adminHTTP(t, dir), url)
	if fams["trent_keys"] == nil || fams["trent_raft_term"] == nil {
		t.Fatalf("the admin's scrape lacks the node's metrics: %d families", len(fams))
	}
	for _, tc := range nonAdmins(t, s, dir) {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.hc.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// A GET is a Connect-shaped request: the refusal is a Connect error.
			if typ := resp.Header.Get(wire.ErrorTypeHeader); resp.StatusCode != tc.status || typ != tc.typ {
				t.Fatalf("answered %s (%s), want %d %s", resp.Status, typ, tc.status, tc.typ)
			}
			if strings.Contains(string(body), "trent_") {
				t.Fatal("the refusal carries metrics")
			}
		})
	}
	// The refusals are counted too, under the metrics operation.
	fams = scrape(t, adminHTTP(t, dir), url)
	for typ, want := range map[string]float64{"AccessDeniedException": 1, "UnrecognizedClientException": 2} {
		if v := value(fams, "trent_requests_total", "operation", "metrics", "result", typ); v != want {
			t.Errorf("scrapes refused with %s counted: %v, want %v", typ, v, want)
		}
	}
}

// TestMetricsOfAFollower: a write sent to a follower is forwarded to the
// leader, once, and each node reports its own raft role.
func TestMetricsOfAFollower(t *testing.T) {
	c := startCluster(t)
	leader := c.leaderIndex(t)
	follower := (leader + 1) % len(c.nodes)
	admin := adminHTTP(t, c.adminDir)
	at := func(i int) map[string]*dto.MetricFamily {
		return scrape(t, admin, "https://"+c.nodes[i].APIAddr()+"/metrics")
	}
	written := []string{"kind", "write", "result", "ok"}
	before := at(follower)
	if _, err := c.kms(t, follower).CreateKey(context.Background(), &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	after := at(follower)
	if d := value(after, "trent_forwarded_duration_seconds", written...) - value(before, "trent_forwarded_duration_seconds", written...); d != 1 {
		t.Errorf("writes forwarded by the follower: moved by %v, want 1", d)
	}
	if v := value(after, "trent_raft_state", "state", "Follower"); v != 1 {
		t.Errorf("the follower's trent_raft_state{state=Follower} = %v", v)
	}
	if v := value(after, "trent_raft_last_contact_seconds"); v <= 0 || v > 5 {
		t.Errorf("the follower last heard from the leader %vs ago", v)
	}
	lead := at(leader)
	if v := value(lead, "trent_raft_state", "state", "Leader"); v != 1 {
		t.Errorf("the leader's trent_raft_state{state=Leader} = %v", v)
	}
	if v := value(lead, "trent_requests_total", "operation", "Apply", "protocol", "connect", "result", "ok"); v < 1 {
		t.Errorf("forwarded writes the leader answered: %v, want at least 1", v)
	}
	if v := value(lead, "trent_keys"); v != 1 {
		t.Errorf("the leader counts %v keys, want 1", v)
	}
}
