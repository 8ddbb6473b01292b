package rpc_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/consistency"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/rpc"
	"github.com/trentkms/trent/wire"
)

// gate admits with a fixed bound, or refuses.
type gate struct{ refuse bool }

func (g gate) Admit(_ context.Context, r consistency.Request) (consistency.Served, error) {
	if g.refuse {
		return consistency.Served{}, &wire.Error{Type: wire.DependencyTimeout, Message: "too stale"}
	}
	return consistency.Served{Mode: r.Mode, StalenessBound: 3 * time.Millisecond, AppliedIndex: 7}, nil
}

// The interceptor's contract with clients: how a call was served on
// success, the AWS error name on failure, and a leader hint on retryable
// errors only.
func TestInterceptorMetadata(t *testing.T) {
	t.Parallel()
	hint := func() string { return "127.0.0.1:7710" }
	ok := func(_ context.Context, _ connect.AnyRequest) (connect.AnyResponse, error) {
		return connect.NewResponse(&kmsv1.DescribeKeyResponse{}), nil
	}
	write := func(ctx context.Context, _ connect.AnyRequest) (connect.AnyResponse, error) {
		wire.SetAppliedIndex(ctx, 12)
		return connect.NewResponse(&kmsv1.CreateKeyResponse{}), nil
	}
	failWith := func(typ string) connect.UnaryFunc {
		return func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) {
			return nil, &wire.Error{Type: typ, Message: "m"}
		}
	}
	for _, tc := range []struct {
		name    string
		gate    gate
		header  [2]string
		next    connect.UnaryFunc
		want    map[string]string
		wantErr connect.Code
	}{
		{name: "bounded read", next: ok, want: map[string]string{"Trent-Served-By": "n2", "Trent-Consistency": "bounded", "Trent-Staleness-Bound": "3ms", "Trent-Applied-Index": "7"}},
		{name: "linearizable read", header: [2]string{"Trent-Consistency", "linearizable"}, next: ok, want: map[string]string{"Trent-Consistency": "linearizable"}},
		{name: "write", next: write, want: map[string]string{"Trent-Consistency": "leader", "Trent-Applied-Index": "12", "Trent-Staleness-Bound": "0s"}},
		{name: "refused read", gate: gate{refuse: true}, next: ok, wantErr: connect.CodeUnavailable,
			want: map[string]string{"Trent-Error-Type": "DependencyTimeoutException", "Trent-Leader": "127.0.0.1:7710", "Trent-Served-By": "n2"}},
		{name: "no quorum for a write", next: failWith(wire.DependencyTimeout), wantErr: connect.CodeUnavailable,
			want: map[string]string{"Trent-Leader": "127.0.0.1:7710"}},
		{name: "no hint on other errors", next: failWith(wire.NotFound), wantErr: connect.CodeNotFound,
			want: map[string]string{"Trent-Leader": "", "Trent-Error-Type": "NotFoundException"}},
		{name: "malformed header", header: [2]string{"Trent-Min-Index", "x"}, next: ok, wantErr: connect.CodeInvalidArgument,
			want: map[string]string{"Trent-Error-Type": "ValidationException", "Trent-Leader": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic := rpc.Interceptor("n2", tc.gate, hint)
			req := connect.NewRequest(&kmsv1.DescribeKeyRequest{KeyId: "k"})
			if tc.header[0] != "" {
				req.Header().Set(tc.header[0], tc.header[1])
			}
			resp, err := ic.WrapUnary(tc.next)(context.Background(), req)
			var got http.Header
			if tc.wantErr != 0 {
				var ce *connect.Error
				if !errors.As(err, &ce) || ce.Code() != tc.wantErr {
					t.Fatalf("err = %v, want code %v", err, tc.wantErr)
				}
				got = ce.Meta()
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got = resp.Header()
			}
			for k, v := range tc.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got.Get(k), v, got)
				}
			}
		})
	}
}
