package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/raft"
)

// A forwarded write may be sent again only when the leader surely never
// appended it; every other failure is an unknown outcome.
func TestForwardErrRetriesOnlyWhatNeverApplied(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name    string
		err     error
		retry   bool // ErrNotLeader or ErrNoLeader
		unknown bool // ErrUnknownOutcome
	}{
		{"leader says it is not the leader", connect.NewError(connect.CodeFailedPrecondition, errors.New("not the leader")), true, false},
		{"could not dial the leader", connect.NewError(connect.CodeUnavailable, dialErr), true, false},
		{"connection broke mid-call (leader killed)", connect.NewError(connect.CodeUnavailable, io.ErrUnexpectedEOF), false, true},
		{"leader lost leadership or shut down after appending", connect.NewError(connect.CodeAborted, errors.New("leadership lost")), false, true},
		{"the call timed out", connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded), false, true},
		{"the leader refused the caller", connect.NewError(connect.CodePermissionDenied, errors.New("not a member")), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := forwardErr(tc.err)
			retry := errors.Is(got, raft.ErrNotLeader) || errors.Is(got, ErrNoLeader)
			if retry != tc.retry || errors.Is(got, raft.ErrUnknownOutcome) != tc.unknown {
				t.Fatalf("forwardErr = %v; want retry=%v unknown=%v", got, tc.retry, tc.unknown)
			}
		})
	}

	t.Run("a real refused dial is recognized", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cl := clusterv1connect.NewClusterServiceClient(http.DefaultClient, "http://"+addr)
		_, err = cl.Apply(context.Background(), &clusterv1.ApplyRequest{Command: []byte("x")})
		if got := forwardErr(err); !errors.Is(got, ErrNoLeader) {
			t.Fatalf("refused dial: forwardErr(%v) = %v, want ErrNoLeader", err, got)
		}
	})
}
