package server_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// headerClient sends fixed request headers and records the response
// headers of the last call.
type headerClient struct {
	hc   *http.Client
	send http.Header
	mu   sync.Mutex
	got  http.Header
}

func (c *headerClient) Do(req *http.Request) (*http.Response, error) {
	for k, v := range c.send {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err == nil {
		c.mu.Lock()
		c.got = resp.Header.Clone()
		c.mu.Unlock()
	}
	return resp, err
}

func (c *headerClient) last() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

func withHeaders(hc *http.Client, kv ...string) *headerClient {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &headerClient{hc: hc, send: h}
}

func kmsVia(s *server.Server, hc connect.HTTPClient) kmsv1connect.KeyManagementServiceClient {
	return kmsv1connect.NewKeyManagementServiceClient(hc, "https://"+s.APIAddr())
}

func bound(t *testing.T, h http.Header) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(h.Get("Trent-Staleness-Bound"))
	if err != nil {
		t.Fatalf("Trent-Staleness-Bound %q: %v", h.Get("Trent-Staleness-Bound"), err)
	}
	return d
}

func appliedIndex(t *testing.T, h http.Header) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(h.Get("Trent-Applied-Index"), 10, 64)
	if err != nil {
		t.Fatalf("Trent-Applied-Index %q: %v", h.Get("Trent-Applied-Index"), err)
	}
	return n
}

// principalHTTP returns a client holding a certificate for arn, a user or
// role of the admin's account that it creates through IAM, once every
// node has applied the user (or role) and its certificate record: a
// certificate of a user or role that does not exist is refused.
func (c *testCluster) principalHTTP(t *testing.T, arn string) (identity.Principal, *http.Client) {
	t.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		t.Fatal(err)
	}
	hc := clientForPrincipal(t, c.nodes[0], c.adminDir, arn)
	idx := c.nodes[0].AppliedIndex()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatalf("node %s applying the principal: %v", n.APIAddr(), err)
		}
	}
	return p, hc
}

// clientForPrincipal returns a client holding a certificate for arn,
// issued through IAM on s by the admin (the root of the account in the
// bootstrap node's data directory dir): a user or role is created first
// unless it exists. A root certificate comes from that node's CA.
func clientForPrincipal(tb testing.TB, s *server.Server, dir, arn string) *http.Client {
	tb.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		tb.Fatal(err)
	}
	if p.IsRoot() {
		return rootClient(tb, dir, p.Account)
	}
	ctx := context.Background()
	iamc := iamv1connect.NewIdentityServiceClient(adminHTTPB(tb, dir), "https://"+s.APIAddr())
	req := &iamv1.IssueCertificateRequest{}
	if p.Kind == identity.KindRole {
		_, err = iamc.CreateRole(ctx, &iamv1.CreateRoleRequest{RoleName: p.Name, Path: p.Path})
		req.RoleName = p.Name
	} else {
		_, err = iamc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: p.Name, Path: p.Path})
		req.UserName = p.Name
	}
	if err != nil && errorType(err) != wire.EntityAlreadyExists {
		tb.Fatal(err)
	}
	ic, err := iamc.IssueCertificate(ctx, req)
	if err != nil {
		tb.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(ic.CertificatePem), []byte(ic.PrivateKeyPem))
	if err != nil {
		tb.Fatal(err)
	}
	return httpClient(identity.ClientTLSConfig(pool, pair))
}

// rootClient returns a client holding a certificate for the root of
// account, issued by the CA in the bootstrap node's data directory dir
// (as an operator holding the CA key could).
func rootClient(tb testing.TB, dir, account string) *http.Client {
	tb.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		tb.Fatal(err)
	}
	ca := dataDirCA(tb, dir)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := identity.NewKeyPair()
	if err != nil {
		tb.Fatal(err)
	}
	der, err := ca.IssueClient(identity.RootPrincipal(account), key.Public(), time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return httpClient(identity.ClientTLSConfig(pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}))
}

func TestReadModesOnAFollower(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	admin := adminHTTP(t, c.adminDir)
	follower := c.nodes[2]

	w := withHeaders(admin)
	ck, err := kmsVia(follower, w).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wh := w.last()
	if wh.Get("Trent-Consistency") != "leader" || bound(t, wh) != 0 {
		t.Fatalf("write headers: %v", wh)
	}
	writeIdx := appliedIndex(t, wh)
	describe := &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId}

	for _, tc := range []struct {
		name     string
		headers  []string
		mode     string
		maxBound time.Duration
	}{
		{name: "bounded by default", mode: "bounded", maxBound: time.Second},
		{name: "tightened bound", headers: []string{"Trent-Max-Staleness", "5ms"}, mode: "bounded", maxBound: 5 * time.Millisecond},
		{name: "linearizable", headers: []string{"Trent-Consistency", "linearizable"}, mode: "linearizable"},
		{name: "read your write", headers: []string{"Trent-Min-Index", strconv.FormatUint(writeIdx, 10)}, mode: "min_index", maxBound: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := withHeaders(admin, tc.headers...)
			if _, err := kmsVia(follower, hc).DescribeKey(ctx, describe); err != nil {
				t.Fatal(err)
			}
			h := hc.last()
			if h.Get("Trent-Served-By") != "n3" || h.Get("Trent-Consistency") != tc.mode {
				t.Fatalf("headers %v", h)
			}
			if b := bound(t, h); b > tc.maxBound {
				t.Fatalf("staleness bound %s above the promised %s", b, tc.maxBound)
			}
			if idx := appliedIndex(t, h); idx < writeIdx {
				t.Fatalf("served at applied index %d, before this client's write at %d", idx, writeIdx)
			}
		})
	}

	t.Run("malformed header", func(t *testing.T) {
		_, err := kmsVia(follower, withHeaders(admin, "Trent-Consistency", "eventual")).DescribeKey(ctx, describe)
		assertAWSError(t, err, connect.CodeInvalidArgument, "ValidationException")
	})
	t.Run("min index not reached", func(t *testing.T) {
		_, err := kmsVia(follower, withHeaders(admin, "Trent-Min-Index", strconv.FormatUint(writeIdx+1_000_000, 10))).DescribeKey(ctx, describe)
		assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
	})
}

// A follower that cannot reach a quorum keeps serving bounded reads only
// while its bound lasts, never with a bound above max staleness, and then
// refuses with a retryable error.
func TestCutOffFollowerStopsServingBoundedReads(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	admin := adminHTTP(t, c.adminDir)
	ck, err := c.kms(t, 0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes[:2] {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Now()
	hc := withHeaders(admin)
	follower := kmsVia(c.nodes[2], hc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := follower.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId})
		if err != nil {
			assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
			break
		}
		if b := bound(t, hc.last()); b > time.Second {
			t.Fatalf("served with staleness bound %s, above max staleness 1s", b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving bounded reads %s after losing its quorum", time.Since(cut))
		}
	}
	_, err = kmsVia(c.nodes[2], withHeaders(admin, "Trent-Consistency", "linearizable")).
		DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId})
	assertAWSError(t, err, connect.CodeUnavailable, "DependencyTimeoutException")
}

// Without a token, a new grant takes effect on a follower within its max
// staleness, and a revoked one stops working within it; a request that
// tightens the bound sees the change at once.
func TestGrantChangesReachFollowersWithinMaxStaleness(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	admin := kmsVia(c.nodes[0], adminHTTP(t, c.adminDir))
	ck, err := admin.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	bob, bobHTTP := c.principalHTTP(t, "arn:aws:iam::111122223333:user/bob")
	encrypt := &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.Arn, Plaintext: []byte("x")}
	const maxStaleness = time.Second

	// poll calls Encrypt as bob on the follower until at least twice the
	// bound has passed since ack and 5 calls were served after the bound,
	// and checks that every call served that started more than the bound
	// after ack saw the change. A refusal as unavailable (the follower
	// could not prove its state fresh within the bound: on a loaded
	// machine its confirmations lapse) serves nothing and keeps the
	// promise.
	poll := func(t *testing.T, ack time.Time, allowed bool) {
		t.Helper()
		follower := kmsVia(c.nodes[2], bobHTTP)
		served := 0
		for {
			started := time.Now()
			_, err := follower.Encrypt(ctx, encrypt)
			if started.Sub(ack) <= maxStaleness || connect.CodeOf(err) == connect.CodeUnavailable {
				if started.Sub(ack) > 30*time.Second {
					t.Fatalf("%d calls served in 30s after the change: %v", served, err)
				}
				continue // within the promise either way
			}
			served++
			if allowed && err != nil {
				t.Fatalf("grant not usable %s after it was acknowledged: %v", started.Sub(ack), err)
			}
			if !allowed && connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("revoked grant still usable (err %v) %s after the revoke was acknowledged", err, started.Sub(ack))
			}
			if started.Sub(ack) > 2*maxStaleness && served >= 5 {
				return
			}
		}
	}

	g, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: ck.KeyMetadata.KeyId,
		GranteePrincipal: bob.ARN, Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, time.Now(), true)

	if _, err := admin.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: ck.KeyMetadata.KeyId, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	// A tightened bound sees the revoke at once.
	_, err = kmsVia(c.nodes[2], withHeaders(bobHTTP, "Trent-Max-Staleness", "0s")).Encrypt(ctx, encrypt)
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("revoked grant usable with Trent-Max-Staleness 0s: %v", err)
	}
	poll(t, time.Now(), false)
}

// IAM shares the transport: its reads are admitted like KMS reads, and a
// write reports the index at which it applied.
func TestIAMCallsReportHowTheyWereServed(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	hc := withHeaders(adminHTTP(t, dir))
	iamc := iamv1connect.NewIdentityServiceClient(hc, "https://"+s.APIAddr())
	ctx := context.Background()
	if _, err := iamc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "carol"}); err != nil {
		t.Fatal(err)
	}
	h := hc.last()
	if h.Get("Trent-Consistency") != "leader" || appliedIndex(t, h) == 0 {
		t.Fatalf("IAM write headers: %v", h)
	}
	if _, err := iamc.ListUsers(ctx, &iamv1.ListUsersRequest{}); err != nil {
		t.Fatal(err)
	}
	if h := hc.last(); h.Get("Trent-Consistency") != "bounded" || bound(t, h) > time.Second {
		t.Fatalf("IAM read headers: %v", h)
	}
}
