package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
)

// fakeLeader answers Join with a fixed error.
type fakeLeader struct {
	clusterv1connect.UnimplementedClusterServiceHandler
	err error
}

func (f fakeLeader) Join(context.Context, *clusterv1.JoinRequest) (*clusterv1.JoinResponse, error) {
	return nil, f.err
}

// TestForwardedJoinErrorsHideInternals: a follower passes on the leader's
// verdicts on a Join, and answers every other failure (the leader
// unreachable, its internal errors) with the generic error, without the
// addresses or error text behind it.
func TestForwardedJoinErrorsHideInternals(t *testing.T) {
	c := New(Config{})
	ctx := context.Background()
	// An address nothing listens on: a dial error that names it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name     string
		leader   error // the leader's answer; nil: the leader is unreachable
		wantCode connect.Code
		wantMsg  string
	}{
		{"bad token", connect.NewError(connect.CodePermissionDenied, errors.New("the join token is not valid")),
			connect.CodePermissionDenied, "the join token is not valid"},
		{"duplicate node", connect.NewError(connect.CodeAlreadyExists, errors.New("a member with node id n2 exists")),
			connect.CodeAlreadyExists, "a member with node id n2 exists"},
		{"leader internal error", connect.NewError(connect.CodeInternal, errors.New("raft: log 10.0.0.9:7701 corrupt")),
			connect.CodeUnavailable, errJoinUnavailable.Error()},
		{"leader unreachable", nil, connect.CodeUnavailable, errJoinUnavailable.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://" + deadAddr
			if tc.leader != nil {
				_, h := clusterv1connect.NewClusterServiceHandler(fakeLeader{err: tc.leader})
				srv := httptest.NewServer(h)
				defer srv.Close()
				url = srv.URL
			}
			_, err := clusterv1connect.NewClusterServiceClient(http.DefaultClient, url).Join(ctx, &clusterv1.JoinRequest{NodeId: "n2"})
			got := c.forwardedJoinError(ctx, "n2", err)
			ce := new(connect.Error)
			if !errors.As(got, &ce) || ce.Code() != tc.wantCode || ce.Message() != tc.wantMsg {
				t.Fatalf("got %v; want %v %q", got, tc.wantCode, tc.wantMsg)
			}
			for _, internal := range []string{deadAddr, "raft", "10.0.0.9", "dial"} {
				if strings.Contains(got.Error(), internal) {
					t.Fatalf("the joiner hears %q: %v", internal, got)
				}
			}
		})
	}
}
