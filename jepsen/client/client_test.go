package client

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

// wireError is an error as the service sends it, with its AWS type header.
func wireError(code connect.Code, typ string) error {
	ce := connect.NewWireError(code, errors.New("x"))
	ce.Meta().Set(wire.ErrorTypeHeader, typ)
	return ce
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		write bool
		want  string
	}{
		{"success", nil, true, history.Ok},
		{"definite refusal of a write", wireError(connect.CodeNotFound, "NotFoundException"), true, history.Fail},
		{"refused at apply time: an automatic rotation is near", wireError(connect.CodeFailedPrecondition, "ConflictException"), true, history.Fail},
		{"disabled key", wireError(connect.CodeFailedPrecondition, "DisabledException"), true, history.Fail},
		{"write may have applied", wireError(connect.CodeUnavailable, "DependencyTimeoutException"), true, history.Info},
		{"write timed out", fmt.Errorf("call: %w", context.DeadlineExceeded), true, history.Info},
		{"write never sent", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true, history.Fail},
		{"a failed read is a failure", wireError(connect.CodeUnavailable, "DependencyTimeoutException"), false, history.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Outcome(tt.err, tt.write); got != tt.want {
				t.Fatalf("Outcome = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMetaOf(t *testing.T) {
	ce := connect.NewWireError(connect.CodeUnavailable, errors.New("x"))
	h := ce.Meta()
	h.Set(wire.ServedByHeader, "n2")
	h.Set(wire.AppliedIndexHeader, "42")
	h.Set(wire.ConsistencyHeader, "bounded")
	h.Set(wire.StalenessBoundHeader, "12.5ms")
	var op history.Op
	metaOf(h).Fill(&op)
	if op.ServedBy != "n2" || op.Applied != 42 || op.Consistency != "bounded" || op.Staleness != "12.5ms" {
		t.Fatalf("got %+v", op)
	}
}
