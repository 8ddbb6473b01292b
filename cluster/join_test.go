package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// askJoin sends a Join to a fake member answering leader, or, if leader
// is nil, to deadAddr, where nothing listens, and returns the error the
// client gets.
func askJoin(t *testing.T, deadAddr string, leader error) error {
	t.Helper()
	url := "http://" + deadAddr
	if leader != nil {
		_, h := clusterv1connect.NewClusterServiceHandler(fakeLeader{err: leader})
		srv := httptest.NewServer(h)
		defer srv.Close()
		url = srv.URL
	}
	_, err := clusterv1connect.NewClusterServiceClient(http.DefaultClient, url).Join(context.Background(), &clusterv1.JoinRequest{NodeId: "n2"})
	return err
}

// deadAddress returns a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestForwardedJoinErrorsHideInternals: a follower passes on the leader's
// verdicts on a Join, and answers every other failure (the leader
// unreachable, its internal errors) with the generic error, without the
// addresses or error text behind it.
func TestForwardedJoinErrorsHideInternals(t *testing.T) {
	c := New(Config{})
	ctx := context.Background()
	deadAddr := deadAddress(t) // a dial error names it

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
		{"token spent, then failed", connect.NewError(connect.CodeFailedPrecondition, errJoinSpent),
			connect.CodeFailedPrecondition, errJoinSpent.Error()},
		{"leader internal error", connect.NewError(connect.CodeInternal, errors.New("raft: log 10.0.0.9:7701 corrupt")),
			connect.CodeUnavailable, errJoinUnavailable.Error()},
		{"leader unreachable", nil, connect.CodeUnavailable, errJoinUnavailable.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := askJoin(t, deadAddr, tc.leader)
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

// errMaySpent stands for TestRetryJoin's want of a spent-token refusal
// with the note that an earlier attempt may have spent it.
var errMaySpent = errors.New("an earlier attempt may have spent the token")

// A joiner asks again while every refusal may pass, and stops at the
// first that cannot, or when its wait ends.
func TestRetryJoin(t *testing.T) {
	unavailable := connect.NewError(connect.CodeUnavailable, errJoinUnavailable)
	denied := connect.NewError(connect.CodePermissionDenied, errors.New("the join token is not valid"))
	wrongCA := connect.NewError(connect.CodeUnavailable, fmt.Errorf("tls: %w", ErrCAMismatch))
	notANode := connect.NewError(connect.CodeUnavailable, fmt.Errorf("tls: %w", verifyPinned([][]byte{{1}}, [32]byte{})))
	spent := connect.NewError(connect.CodeFailedPrecondition, errJoinSpent)
	timedOut := connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded)
	admitted := &clusterv1.JoinResponse{ClusterId: "c1"}
	for _, tc := range []struct {
		name string
		// answers[i] is the i-th attempt's answer (nil error: admitted);
		// attempts past the end are refused as unavailable.
		answers   []error
		stopAfter int // the wait ends after this many retries (0: never)
		wantAsks  int
		wantErr   error // nil: admitted
	}{
		{"admitted at once", []error{nil}, 0, 1, nil},
		{"the second member admits", []error{unavailable, nil}, 0, 2, nil},
		{"asked again while the cluster elects", []error{unavailable, unavailable, unavailable, unavailable, nil}, 0, 5, nil},
		{"a spent token ends it", []error{unavailable, denied}, 0, 2, denied},
		{"a spent token ends it in a later round", []error{unavailable, unavailable, denied, unavailable}, 0, 4, denied},
		{"a member of another CA is not asked again", []error{wrongCA, unavailable}, 0, 2, ErrCAMismatch},
		{"a member that is not a node is not asked again", []error{notANode, unavailable}, 0, 2, errNotPinned},
		{"a join that failed after spending the token ends it", []error{spent, unavailable}, 0, 2, errJoinSpent},
		{"a token spent by a timed-out attempt", []error{timedOut, unavailable, denied, unavailable}, 0, 4, errMaySpent},
		{"the wait ends", nil, 3, 6, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			asks, retries := 0, 0
			ask := func(context.Context, string) (*clusterv1.JoinResponse, error) {
				asks++
				if asks <= len(tc.answers) && tc.answers[asks-1] == nil {
					return admitted, nil
				}
				if asks <= len(tc.answers) {
					return nil, tc.answers[asks-1]
				}
				return nil, unavailable
			}
			onRetry := func(err error) {
				if !errors.Is(err, errJoinUnavailable) {
					t.Errorf("retried after %v, not a retryable refusal", err)
				}
				if retries++; retries == tc.stopAfter {
					cancel()
				}
			}
			resp, err := retryJoin(ctx, []string{"m1:7700", "m2:7700"}, ask, func(int) time.Duration { return 0 }, onRetry)
			if asks != tc.wantAsks {
				t.Errorf("%d attempts, want %d", asks, tc.wantAsks)
			}
			if tc.wantErr == nil {
				if err != nil || resp != admitted {
					t.Fatalf("got %v, %v; want admitted", resp, err)
				}
				return
			}
			if tc.wantErr == errMaySpent {
				if resp != nil || !errors.Is(err, denied) || !strings.Contains(err.Error(), "may have spent the token") {
					t.Fatalf("got %v, %v; want the refusal with a note that an earlier attempt may have spent the token", resp, err)
				}
				return
			}
			if resp != nil || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, %v; want the error %v", resp, err, tc.wantErr)
			}
		})
	}
}

// The refusals a joiner asks again after, as they reach it over the wire.
func TestRetryableJoin(t *testing.T) {
	deadAddr := deadAddress(t)
	for _, tc := range []struct {
		name   string
		leader error // the member's answer; nil: nothing listens
		want   bool
	}{
		{"nothing listens", nil, true},
		{"the cluster cannot admit now", connect.NewError(connect.CodeUnavailable, errJoinUnavailable), true},
		{"the token is spent", connect.NewError(connect.CodePermissionDenied, errors.New("the join token was used")), false},
		{"already a member", connect.NewError(connect.CodeAlreadyExists, errors.New("a member with node id n2 exists")), false},
		{"a bad request", connect.NewError(connect.CodeInvalidArgument, errors.New("csr is not valid")), false},
		{"spent, then failed", connect.NewError(connect.CodeFailedPrecondition, errJoinSpent), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := askJoin(t, deadAddr, tc.leader)
			if got := retryableJoin(err); got != tc.want {
				t.Fatalf("retryableJoin(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}
