package iam

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/wire"
)

// stubLog answers every proposal with resp at index 9.
type stubLog struct{ resp any }

func (l stubLog) Apply(context.Context, []byte) (any, uint64, error) { return l.resp, 9, nil }

// The state machine's refusals of IAM commands keep their IAM names (the
// fsm spells them as here); any other name is an internal error. Either
// way the call reports the index at which the refusal applied.
func TestProposeTranslatesRejections(t *testing.T) {
	tests := []struct{ rejection, want string }{
		{"EntityAlreadyExists", wire.EntityAlreadyExists},
		{"NoSuchEntity", wire.NoSuchEntity},
		{"LimitExceeded", wire.IAMLimitExceeded},
		{"ValidationError", wire.IAMValidation},
		{"ServiceFailure", wire.ServiceFailure},
		{"NotFoundException", wire.ServiceFailure}, // KMS's, not an IAM name
		{"KMSInternalException", wire.ServiceFailure},
		{"", wire.ServiceFailure},
	}
	for _, tt := range tests {
		s := &Service{logger: slog.New(slog.DiscardHandler),
			log: stubLog{&fsm.Result{Err: &fsm.Rejection{Type: tt.rejection, Message: "refused"}}}}
		var info wire.CallInfo
		_, err := s.propose(wire.WithCallInfo(context.Background(), &info), &fsm.Noop{})
		var e *wire.Error
		if !errors.As(err, &e) || e.Type != tt.want {
			t.Errorf("rejection %q: got %v, want %s", tt.rejection, err, tt.want)
			continue
		}
		if tt.want == tt.rejection && e.Message != "refused" {
			t.Errorf("rejection %q: message %q", tt.rejection, e.Message)
		}
		if info.AppliedIndex != 9 {
			t.Errorf("rejection %q: applied index %d, want 9", tt.rejection, info.AppliedIndex)
		}
	}
}

// A response that is not a *fsm.Result is an internal error, not a panic.
func TestProposeRefusesAnUnexpectedResponse(t *testing.T) {
	s := &Service{logger: slog.New(slog.DiscardHandler), log: stubLog{"not a result"}}
	_, err := s.propose(context.Background(), &fsm.Noop{})
	if e := (*wire.Error)(nil); !errors.As(err, &e) || e.Type != wire.ServiceFailure {
		t.Fatalf("got %v, want %s", err, wire.ServiceFailure)
	}
}
