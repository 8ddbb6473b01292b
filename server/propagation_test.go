package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// With a cluster-wide simulated propagation delay of 2s (set through a
// follower, so every node agrees), a grantee's Encrypt on a follower
// without its grant token is refused until 2s after the grant applied
// there and allowed after, on the Connect API and through the AWS
// endpoint with the AWS SDK; with the token, with a minimum index or
// linearizable, it is allowed at once. A revoked grant keeps working
// there for 2s. The delay runs on the injected clock, which only the test
// moves; the staleness bound runs on the node's own clock and caps the
// delay: with the clock frozen, a tightened bound still sees a new grant
// within it.
func TestSimulatedPropagationDelaysGrantsOnFollowers(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	advance := func(d time.Duration) { clock.Add(d.Milliseconds()) }
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
		// The bound is long, so that only the delay decides until the
		// last step.
		cfg.MaxStaleness = server.Duration(time.Minute)
	})
	ctx := context.Background()
	adminHC := withHeaders(adminHTTP(t, c.adminDir))
	admin := kmsVia(c.nodes[0], adminHC)
	ck, err := admin.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	bob, bobHTTP := c.principalHTTP(t, "arn:aws:iam::111122223333:user/bob")
	ak, err := iamv1connect.NewIdentityServiceClient(adminHC, "https://"+c.nodes[0].APIAddr()).
		CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	waitEverywhere(t, c, appliedIndex(t, adminHC.last()))

	cl := clusterv1connect.NewClusterServiceClient(adminHTTP(t, c.adminDir), "https://"+c.nodes[1].APIAddr())
	set, err := cl.SetPropagation(ctx, &clusterv1.SetPropagationRequest{Delay: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	waitEverywhere(t, c, set.Index)
	st, err := clusterv1connect.NewClusterServiceClient(adminHTTP(t, c.adminDir), "https://"+c.nodes[2].APIAddr()).
		Status(ctx, &clusterv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Self.SimulatedPropagation != "2s" || st.Self.SimulatedPropagationSource != "cluster" || st.GetPropagation().GetDelay() != "2s" {
		t.Fatalf("status: self %q (%q), cluster %v", st.Self.SimulatedPropagation, st.Self.SimulatedPropagationSource, st.Propagation)
	}

	bobHC := withHeaders(bobHTTP)
	follower := kmsVia(c.nodes[2], bobHC)
	sdk := awsClient(t, c.nodes[2], c.adminDir, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey)
	// check calls Encrypt as bob on the follower, on both APIs, and wants
	// it allowed or refused with AccessDeniedException.
	check := func(t *testing.T, when string, allowed bool, tokens ...string) {
		t.Helper()
		_, err := follower.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), GrantTokens: tokens})
		if allowed && err != nil || !allowed && connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("%s: Connect Encrypt: %v, want allowed=%v", when, err, allowed)
		}
		if h := bobHC.last(); len(tokens) == 0 && h.Get("Trent-Simulated-Propagation") != "2s" && allowed {
			t.Fatalf("%s: Trent-Simulated-Propagation %q, want 2s", when, h.Get("Trent-Simulated-Propagation"))
		}
		_, err = sdk.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"), GrantTokens: tokens})
		var ae smithy.APIError
		if allowed && err != nil || !allowed && (!errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException") {
			t.Fatalf("%s: AWS SDK Encrypt: %v, want allowed=%v", when, err, allowed)
		}
	}

	g, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: bob.ARN, Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	granted := appliedIndex(t, adminHC.last())
	waitEverywhere(t, c, granted)
	check(t, "at once, without the token", false)
	check(t, "at once, with the token", true, g.GrantToken)
	for _, h := range [][]string{{"Trent-Min-Index", strconv.FormatUint(granted, 10)}, {"Trent-Consistency", "linearizable"}} {
		if _, err := kmsVia(c.nodes[2], withHeaders(bobHTTP, h...)).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("with %s: %v", h[0], err)
		}
	}
	advance(1999 * time.Millisecond)
	check(t, "1.999s after the grant", false)
	advance(time.Millisecond)
	check(t, "2s after the grant", true)

	if _, err := admin.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: keyID, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	waitEverywhere(t, c, appliedIndex(t, adminHC.last()))
	check(t, "at once after the revoke", true)
	advance(1999 * time.Millisecond)
	check(t, "1.999s after the revoke", true)
	advance(time.Millisecond)
	check(t, "2s after the revoke", false)

	// The clock stands still from here: only the staleness bound moves the
	// view. Every call that starts more than the bound after the grant
	// was acknowledged sees it.
	const tight = 300 * time.Millisecond
	if _, err := admin.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: bob.ARN, Operations: []string{"Encrypt"}}); err != nil {
		t.Fatal(err)
	}
	ack := time.Now()
	bounded := kmsVia(c.nodes[2], withHeaders(bobHTTP, "Trent-Max-Staleness", tight.String()))
	for {
		started := time.Now()
		_, err := bounded.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
		if started.Sub(ack) <= tight {
			continue // either answer keeps the promise
		}
		if err != nil {
			t.Fatalf("grant not usable %s after it was acknowledged, past the %s bound: %v", started.Sub(ack), tight, err)
		}
		if started.Sub(ack) > 2*tight {
			break
		}
	}
	// The follower's audit trail says which calls saw the delayed view,
	// on both APIs.
	seen := map[string]bool{}
	for _, r := range auditRecords(t, filepath.Join(c.configs[2].DataDir, "audit")) {
		if r.EventName == "Encrypt" && r.Trent.SimulatedPropagation == "2s" {
			seen[r.Trent.Protocol] = true
		}
	}
	if !seen["connect"] || !seen["aws-json"] {
		t.Fatalf("audit records with the simulated propagation, by protocol: %v", seen)
	}
}

func waitEverywhere(t *testing.T, c *testCluster, idx uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatalf("node %s applying %d: %v", n.APIAddr(), idx, err)
		}
	}
}
