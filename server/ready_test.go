package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	awstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// held is a node stopped by the Hold knob in a state.
type held struct{ state, addr string }

// holdAt returns a Hold knob that stops the node in each of states until
// the test sends on release, reporting each stop on the returned channel.
func holdAt(states ...string) (knob func(state, addr string), stops <-chan held, release chan<- struct{}) {
	ch, rel := make(chan held), make(chan struct{})
	return func(state, addr string) {
		for _, s := range states {
			if s == state {
				ch <- held{state, addr}
				<-rel
			}
		}
	}, ch, rel
}

// startHeld starts a node on dir in the background, held by the Hold knob
// in each of states (see holdAt); started receives Start's error, after
// *s is set.
func startHeld(dir string, s **server.Server, states ...string) (stops <-chan held, release chan<- struct{}, started <-chan error) {
	cfg := testConfig(dir)
	knob, stops, release := holdAt(states...)
	cfg.Testing.Hold = knob
	done := make(chan error, 1)
	go func() {
		var err error
		*s, err = server.Start(context.Background(), cfg)
		done <- err
	}()
	return stops, release, done
}

// notServing is what a node that does not serve must answer: a retryable
// refusal naming the node, and the leader when it is known.
type notServing struct {
	id, addr, dir string
	msg           string // in the refusal's message
	// leader is the Trent-Leader hint, "" if it may be unknown; self is
	// this node's address, which a hint must not name.
	leader, self string
	// all: every route refuses; otherwise only KMS, IAM and the AWS
	// endpoint (a forming cluster serves health and reflection).
	all bool
}

// check probes the node over Connect, gRPC and gRPC-Web (KMS and IAM), the
// AWS SDK (which must retry), and raw HTTP on every path: each answer is
// a retryable refusal, never 404 or text/plain.
func (n notServing) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	url := "https://" + n.addr
	hc := adminHTTP(t, n.dir)
	meta := func(t *testing.T, h http.Header) {
		t.Helper()
		if h.Get(wire.ServedByHeader) != n.id {
			t.Errorf("%s is %q; want %s", wire.ServedByHeader, h.Get(wire.ServedByHeader), n.id)
		}
		if l := h.Get(wire.LeaderHeader); n.leader != "" && l != n.leader || l != "" && l == n.self {
			t.Errorf("%s is %q; want %q, never this node", wire.LeaderHeader, l, n.leader)
		}
	}
	connectRefusal := func(t *testing.T, err error) {
		t.Helper()
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable || ce.Meta().Get(wire.ErrorTypeHeader) != wire.DependencyTimeout ||
			!strings.Contains(ce.Message(), n.msg) {
			t.Fatalf("got %v; want unavailable, DependencyTimeoutException, %q", err, n.msg)
		}
		meta(t, ce.Meta())
	}
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc": {connect.WithGRPC()}, "grpc-web": {connect.WithGRPCWeb()}} {
		t.Run(name, func(t *testing.T) {
			_, err := kmsv1connect.NewKeyManagementServiceClient(hc, url, opts...).ListKeys(ctx, &kmsv1.ListKeysRequest{})
			connectRefusal(t, err)
			_, err = kmsv1connect.NewKeyManagementServiceClient(hc, url, opts...).UpdateKeyDescription(ctx,
				&kmsv1.UpdateKeyDescriptionRequest{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Description: "d"})
			connectRefusal(t, err)
			_, err = iamv1connect.NewIdentityServiceClient(hc, url, opts...).ListUsers(ctx, &iamv1.ListUsersRequest{})
			connectRefusal(t, err)
		})
	}

	t.Run("aws sdk", func(t *testing.T) {
		pool, _, err := identity.LoadCredentials(filepath.Join(n.dir, "admin"))
		if err != nil {
			t.Fatal(err)
		}
		attempts := 0
		c := awskms.New(awskms.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(url),
			HTTPClient:   httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
			// The gate refuses before the endpoint checks the signature.
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret"}, nil
			}),
			// The SDK's standard retry rules, without waiting.
			Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { attempts++; return 0, nil })
			}),
		})
		_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/x")})
		var dte *awstypes.DependencyTimeoutException
		var maxed *retry.MaxAttemptsError
		if !errors.As(err, &dte) || !strings.Contains(dte.ErrorMessage(), n.msg) {
			t.Fatalf("got %v; want DependencyTimeoutException %q", err, n.msg)
		}
		if !errors.As(err, &maxed) || attempts != 2 {
			t.Fatalf("the SDK did not retry (%d retries): %v", attempts, err)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("no HTTP response in %v", err)
		}
		if re.HTTPStatusCode() != http.StatusServiceUnavailable {
			t.Errorf("HTTP %d; want 503", re.HTTPStatusCode())
		}
		meta(t, re.Response.Header)
	})

	paths := []string{"/", "/trent.kms.v1.KeyManagementService/Encrypt", "/trent.iam.v1.IdentityService/CreateUser"}
	if n.all {
		// Health answers in every state (health_test.go): it says why.
		paths = append(paths, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/trent.cluster.v1.ClusterService/RemoveNode",
			"/trent.kms.v1.KeyManagementService/NoSuchMethod", "/no/such/path")
	}
	for _, path := range paths {
		t.Run("raw "+path, func(t *testing.T) {
			resp, body := post(t, hc, url, path)
			if resp.StatusCode != http.StatusServiceUnavailable || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
				!strings.Contains(string(body), n.msg) {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			meta(t, resp.Header)
		})
	}
}

// TestNodeRefusesAsRetryableUntilItServes holds a restarted node in each
// state in which it does not serve (no leader yet, catching up, its HSM
// sealed, shutting down) and checks that every protocol gets a retryable
// refusal there, then that it serves in between. (An outside probe found
// a restarted node answering 404 text/plain while it caught up.)
func TestNodeRefusesAsRetryableUntilItServes(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	ctx := context.Background()
	ck, err := client(t, s, adminHTTP(t, dir)).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	stops, release, started := startHeld(dir, &s, "waiting-for-leader", "catching-up", "closing")
	for _, tc := range []struct{ state, msg string }{
		{"waiting-for-leader", "Node node1 is starting: it knows no raft leader yet"},
		{"catching-up", "Node node1 is starting: it is catching up with the cluster's log"},
	} {
		h := <-stops
		if h.state != tc.state {
			t.Fatalf("held at %s; want %s", h.state, tc.state)
		}
		t.Run(tc.state, notServing{id: "node1", addr: h.addr, dir: dir, msg: tc.msg, self: h.addr, all: true}.check)
		// The admin can still ask why.
		if _, err := clusterv1connect.NewClusterServiceClient(adminHTTP(t, dir), "https://"+h.addr).Status(ctx, &clusterv1.StatusRequest{}); err != nil {
			t.Errorf("%s: cluster status: %v", tc.state, err)
		}
		release <- struct{}{}
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case h := <-stops: // a failed start closes the node
		close(release)
		t.Fatalf("held at %s while starting: %v", h.state, <-started)
	}
	if _, err := client(t, s, adminHTTP(t, dir)).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("serving: %v", err)
	}

	server.SealHSM(s)
	t.Run("sealed", notServing{id: "node1", addr: s.APIAddr(), dir: dir, msg: "Node node1 cannot serve: its HSM is sealed", self: s.APIAddr(), all: true}.check)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if h := <-stops; h.state != "closing" {
		t.Fatalf("held at %s; want closing", h.state)
	}
	t.Run("closing", notServing{id: "node1", addr: s.APIAddr(), dir: dir, msg: "Node node1 is shutting down", self: s.APIAddr(), all: true}.check)
	release <- struct{}{}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestFormingClusterRefusesAsRetryable: the nodes of a cluster waiting
// for its --bootstrap-expect voters refuse KMS, IAM and AWS calls as
// retryable over every protocol; a follower names the leader.
func TestFormingClusterRefusesAsRetryable(t *testing.T) {
	c := startForming(t)
	n1, first := c.nodes[0], c.adminDir
	n2, err := server.Start(context.Background(), c.config(t.TempDir(), "n2", []string{n1.APIAddr()}, joinToken(t, n1, first)))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n2)
	msg := "The cluster is forming: node %s waits for 3 voters"
	t.Run("leader", notServing{id: "n1", addr: n1.APIAddr(), dir: first, msg: fmt.Sprintf(msg, "n1"), self: n1.APIAddr()}.check)
	t.Run("follower", notServing{id: "n2", addr: n2.APIAddr(), dir: first, msg: fmt.Sprintf(msg, "n2"), leader: n1.APIAddr(), self: n2.APIAddr()}.check)
}
