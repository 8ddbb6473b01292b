package audit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// randomService answers GenerateRandom with a fixed secret and fails
// DescribeKey the way package rpc does.
type randomService struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
}

func (randomService) GenerateRandom(context.Context, *kmsv1.GenerateRandomRequest) (*kmsv1.GenerateRandomResponse, error) {
	return &kmsv1.GenerateRandomResponse{Plaintext: []byte("random-secret")}, nil
}

func (randomService) DescribeKey(context.Context, *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	ce := connect.NewError(connect.CodeNotFound, errors.New("Key 'k' does not exist"))
	ce.Meta().Set("Trent-Error-Type", "NotFoundException")
	return nil, ce
}

// expiringService answers ListKeys as the service does when the call's
// time ran out while it waited (for freshness, say): Unavailable.
type expiringService struct{ randomService }

func (expiringService) ListKeys(ctx context.Context, _ *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	<-ctx.Done()
	ce := connect.NewError(connect.CodeUnavailable, errors.New("could not confirm freshness in time"))
	ce.Meta().Set("Trent-Error-Type", "KMSInternalException")
	return nil, ce
}

// A call whose server-side context ended is recorded, and the caller gets
// the call's own error, not an internal error for an abandoned wait.
func TestInterceptorRecordsACallWhoseContextEnded(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	path, h := kmsv1connect.NewKeyManagementServiceHandler(expiringService{},
		connect.WithInterceptors(l.Interceptor(audit.SourceKMS)))
	expire := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The server's time limit for the call, which passes while
			// the service waits.
			ctx, cancel := context.WithTimeout(r.Context(), 20*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	mux := http.NewServeMux()
	mux.Handle(path, l.Middleware(audit.SourceKMS, expire(asRoot(h))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := kmsv1connect.NewKeyManagementServiceClient(srv.Client(), srv.URL)
	_, err := c.ListKeys(context.Background(), &kmsv1.ListKeysRequest{})
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("ListKeys = %v, want the call's own Unavailable", err)
	}
	if _, recs := readAll(t, dir); len(recs) != 1 || recs[0].EventName != "ListKeys" {
		t.Fatalf("records %+v", recs)
	}
}

// asRoot stands in for the server's authentication.
func asRoot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), root())))
	})
}

func TestInterceptorRecordsOnceAndFailsClosed(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	path, h := kmsv1connect.NewKeyManagementServiceHandler(randomService{},
		connect.WithInterceptors(l.Interceptor(audit.SourceKMS)))
	mux := http.NewServeMux()
	mux.Handle(path, l.Middleware(audit.SourceKMS, asRoot(h)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := kmsv1connect.NewKeyManagementServiceClient(srv.Client(), srv.URL)
	ctx := context.Background()

	resp, err := c.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{})
	if err != nil || string(resp.Plaintext) != "random-secret" {
		t.Fatalf("%v %v", resp, err)
	}
	_, err = c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "k"})
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatal(err)
	}
	_, recs := readAll(t, dir)
	if len(recs) != 2 || recs[0].EventName != "GenerateRandom" || recs[0].ErrorCode != "" ||
		recs[1].EventName != "DescribeKey" || recs[1].ErrorCode != "NotFoundException" ||
		!strings.Contains(recs[1].ErrorMessage, "does not exist") || recs[0].UserIdentity.Type != "Root" {
		t.Fatalf("records %+v", recs)
	}

	// The response names its record.
	raw := connect.NewClient[kmsv1.GenerateRandomRequest, kmsv1.GenerateRandomResponse](srv.Client(),
		srv.URL+kmsv1connect.KeyManagementServiceGenerateRandomProcedure)
	rresp, err := raw.CallUnary(ctx, connect.NewRequest(&kmsv1.GenerateRandomRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	_, recs = readAll(t, dir)
	if id := rresp.Header().Get(wire.RequestIDHeader); id == "" || id != recs[len(recs)-1].RequestID {
		t.Fatalf("%s %q, record's requestID %q", wire.RequestIDHeader, id, recs[len(recs)-1].RequestID)
	}

	// Without a durable record the caller gets no result.
	l.Close()
	resp, err = c.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{})
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInternal || ce.Meta().Get("Trent-Error-Type") != "KMSInternalException" || resp != nil {
		t.Fatalf("with the log closed: %v, %v", resp, err)
	}
}

func TestMiddlewareRecordsRequestsTheInterceptorNeverSees(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	path, h := kmsv1connect.NewKeyManagementServiceHandler(randomService{},
		connect.WithInterceptors(l.Interceptor(audit.SourceKMS)))
	mux := http.NewServeMux()
	mux.Handle(path, l.Middleware(audit.SourceKMS, asRoot(h)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(proc, body string) int {
		resp, err := srv.Client().Post(srv.URL+path+proc, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("Nope", "{}"); code != http.StatusNotFound {
		t.Fatalf("status %d", code)
	}
	if code := post("GenerateRandom", "{not json"); code == http.StatusOK {
		t.Fatal("bad body accepted")
	}
	if code := post("GenerateRandom", "{}"); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	// The middleware records after the response: poll until the deadline.
	var recs []*audit.Record
	for deadline := time.Now().Add(5 * time.Second); len(recs) < 3 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		_, recs = readAll(t, dir)
	}
	l.Close()
	want := []struct{ op, code string }{{"Nope", "UnknownOperationException"}, {"GenerateRandom", "SerializationException"}, {"GenerateRandom", ""}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		if recs[i].EventName != w.op || recs[i].ErrorCode != w.code {
			t.Errorf("record %d: %s %q, want %s %q", i, recs[i].EventName, recs[i].ErrorCode, w.op, w.code)
		}
	}
}
