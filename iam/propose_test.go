package iam

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/kms"
)

// stubLog answers every proposal with resp at index 9.
type stubLog struct{ resp any }

func (l stubLog) Apply(context.Context, []byte) (any, uint64, error) { return l.resp, 9, nil }

// The state machine's refusals of IAM commands keep their IAM names (the
// fsm spells them as here); any other name is an internal error. Either
// way the call reports the index at which the refusal applied.
func TestProposeTranslatesRejections(t *testing.T) {
	tests := []struct{ rejection, want string }{
		{"EntityAlreadyExists", EntityAlreadyExists},
		{"NoSuchEntity", NoSuchEntity},
		{"LimitExceeded", LimitExceeded},
		{"ValidationError", ValidationError},
		{"ServiceFailure", ServiceFailure},
		{"NotFoundException", ServiceFailure}, // KMS's, not an IAM name
		{"KMSInternalException", ServiceFailure},
		{"", ServiceFailure},
	}
	for _, tt := range tests {
		s := &Service{logger: slog.New(slog.DiscardHandler),
			log: stubLog{&fsm.Result{Err: &fsm.Rejection{Type: tt.rejection, Message: "refused"}}}}
		var info kms.CallInfo
		_, err := s.propose(kms.WithCallInfo(context.Background(), &info), &fsm.Noop{})
		var e *kms.Error
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
	if e := (*kms.Error)(nil); !errors.As(err, &e) || e.Type != ServiceFailure {
		t.Fatalf("got %v, want %s", err, ServiceFailure)
	}
}
