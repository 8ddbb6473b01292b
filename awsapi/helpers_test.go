package awsapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/rpc"
)

const (
	region  = "us-east-1"
	account = "111122223333"
	nodeID  = "node-1"

	rootKeyID  = "AKIAROOTEXAMPLE00001"
	rootSecret = "rootSecretKeyEXAMPLE/K7MDENG+bPxRfiCY"
	bobKeyID   = "AKIABOBEXAMPLE000002"
	bobSecret  = "bobSecretKeyEXAMPLE/K7MDENG+bPxRfiCYEX"
)

// staticCreds is a fixed access-key table.
type staticCreds map[string]accessKey

type accessKey struct {
	secret string
	p      identity.Principal
}

func (c staticCreds) Lookup(_ context.Context, id string) ([]byte, identity.Principal, error) {
	e, ok := c[id]
	if !ok {
		return nil, identity.Principal{}, awsapi.ErrUnknownAccessKey
	}
	return []byte(e.secret), e.p, nil
}

func testCreds(tb testing.TB) staticCreds {
	tb.Helper()
	bob, err := identity.ParsePrincipal("arn:aws:iam::" + account + ":user/bob")
	if err != nil {
		tb.Fatal(err)
	}
	return staticCreds{
		rootKeyID: {rootSecret, identity.RootPrincipal(account)},
		bobKeyID:  {bobSecret, bob},
	}
}

// newService returns the complete handler over a real kms.Service with a
// real FSM and soft HSM, as a one-node cluster runs it.
func newService(tb testing.TB) kmsv1connect.KeyManagementServiceHandler {
	tb.Helper()
	dir := tb.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	f := fsm.New()
	log := fsmtest.NewLog(f)
	svc, err := kms.New(kms.Config{Region: region, Store: f, Log: log, Reads: log, HSM: h})
	if err != nil {
		tb.Fatal(err)
	}
	return rpc.Service(svc)
}

// server is the AWS endpoint on a loopback TLS listener.
type server struct {
	*httptest.Server
	handler  http.Handler
	requests atomic.Int64 // requests received
	conns    atomic.Int64 // connections accepted
}

// newServer serves svc; opts.Region and opts.NodeID default to the test's.
func newServer(tb testing.TB, svc kmsv1connect.KeyManagementServiceHandler, opts awsapi.Options) *server {
	tb.Helper()
	if opts.Region == "" {
		opts.Region = region
	}
	if opts.NodeID == "" {
		opts.NodeID = nodeID
	}
	s := &server{handler: awsapi.NewHandler(svc, testCreds(tb), opts)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.handler.ServeHTTP(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// httpClient trusts the test server and keeps enough idle connections for
// parallel callers.
func (s *server) httpClient() *http.Client {
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: tr}
}

// sdk returns an aws-sdk-go-v2 KMS client for the server signing with the
// given key. Retries have no backoff so tests stay fast.
func (s *server) sdk(keyID, secret string, optFns ...func(*awskms.Options)) *awskms.Client {
	opts := awskms.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, Source: "test"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	}
	for _, fn := range optFns {
		fn(&opts)
	}
	return awskms.New(opts)
}

// rawRequest builds a request for the server, signed by the SDK's SigV4
// signer (an implementation independent of ours) at signedAt.
func (s *server) rawRequest(tb testing.TB, target, body string, keyID, secret string, signedAt time.Time) *http.Request {
	tb.Helper()
	r, err := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	signRequest(tb, r, []byte(body), keyID, secret, region, "kms", signedAt)
	return r
}

func signRequest(tb testing.TB, r *http.Request, body []byte, keyID, secret, region, service string, at time.Time) {
	tb.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		tb.Fatal(err)
	}
}

// response is a decoded AWS JSON response.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (s *server) do(tb testing.TB, r *http.Request) *response {
	tb.Helper()
	resp, err := s.httpClient().Do(r)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		tb.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
	if err := json.Unmarshal(out.body, &out.json); err != nil {
		tb.Fatalf("response body is not a JSON object: %v: %q", err, out.body)
	}
	return out
}

// wantError checks an AWS JSON 1.1 error response.
func (r *response) wantError(tb testing.TB, status int, typ string) string {
	tb.Helper()
	if r.status != status {
		tb.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.header.Get("X-Amzn-Errortype"); got != typ {
		tb.Errorf("X-Amzn-Errortype %q, want %q", got, typ)
	}
	if got := r.json["__type"]; got != typ {
		tb.Errorf("__type %v, want %q (body %s)", got, typ, r.body)
	}
	key := "message"
	if typ == "AccessDeniedException" {
		key = "Message"
	}
	msg, ok := r.json[key].(string)
	if !ok || len(r.json) != 2 {
		tb.Errorf("body %s: want exactly __type and %s", r.body, key)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		tb.Errorf("Content-Type %q", ct)
	}
	return msg
}
