package cluster

import (
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
)

// stubLog answers every proposal with resp, or fails with err.
type stubLog struct {
	resp any
	err  error
}

func (l stubLog) Apply(context.Context, []byte) (any, uint64, error) { return l.resp, 9, l.err }

// Each refusal of a cluster command gets its own code; Join in particular
// tells the state machine's verdict on a token by PermissionDenied.
func TestProposeTranslatesRejections(t *testing.T) {
	tests := []struct {
		rejection string
		want      connect.Code
	}{
		{"AccessDeniedException", connect.CodePermissionDenied},
		{"ValidationException", connect.CodeInvalidArgument},
		{"KMSInvalidStateException", connect.CodeFailedPrecondition},
		{"NotFoundException", connect.CodeNotFound},
		{"AlreadyExistsException", connect.CodeAlreadyExists},
		{"KMSInternalException", connect.CodeInternal},
		{"NoSuchEntity", connect.CodeInternal}, // not one of the cluster commands'
		{"", connect.CodeInternal},
	}
	for _, tt := range tests {
		log := stubLog{resp: &fsm.Result{Err: &fsm.Rejection{Type: tt.rejection, Message: "the join token has expired"}}}
		_, err := propose(context.Background(), log, &fsm.Noop{})
		if connect.CodeOf(err) != tt.want {
			t.Errorf("rejection %q: got %v, want %s", tt.rejection, err, tt.want)
			continue
		}
		if ce := new(connect.Error); !errors.As(err, &ce) || ce.Message() != "the join token has expired" {
			t.Errorf("rejection %q: message of %v", tt.rejection, err)
		}
	}
}

func TestProposeErrors(t *testing.T) {
	ctx := context.Background()
	// A response that is not a *fsm.Result is an internal error, not a panic.
	if _, err := propose(ctx, stubLog{resp: "not a result"}, &fsm.Noop{}); connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("unexpected response: %v", err)
	}
	if _, err := propose(ctx, stubLog{err: errors.New("no quorum")}, &fsm.Noop{}); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("log error: %v", err)
	}
	if r, err := propose(ctx, stubLog{resp: &fsm.Result{Index: 9}}, &fsm.Noop{}); err != nil || r.Index != 9 {
		t.Errorf("success: %+v, %v", r, err)
	}
}
