package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/raft"
)

// A step of the start is taken again while it is refused as retryable (a
// leader elected meanwhile), and not after any other failure or once the
// start-up wait ended.
func TestStartStepRetriesWhatMayPass(t *testing.T) {
	changed := connect.NewError(connect.CodeUnavailable, errors.New("Leadership changed while the request was in flight; its outcome is unknown"))
	rejected := connect.NewError(connect.CodeFailedPrecondition, errors.New("the cluster is already initialized"))
	for _, tc := range []struct {
		name      string
		fails     []error // the step's answers, in turn; then success
		cancelAt  int     // the start-up wait ends after this many tries (0: never)
		wantTries int
		wantErr   error
	}{
		{"at once", nil, 0, 1, nil},
		{"leadership changed twice", []error{changed, changed}, 0, 3, nil},
		{"no leader yet", []error{raft.ErrNotLeader, raft.ErrUnknownOutcome}, 0, 3, nil},
		{"a rejection ends it", []error{changed, rejected, changed}, 0, 2, rejected},
		{"the wait ends", []error{changed, changed, changed, changed}, 2, 2, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tries := 0
			err := s.startStep(ctx, "a step", func(context.Context) error {
				tries++
				if tries == tc.cancelAt {
					cancel()
				}
				if tries <= len(tc.fails) {
					return tc.fails[tries-1]
				}
				return nil
			})
			if tries != tc.wantTries {
				t.Errorf("%d tries, want %d", tries, tc.wantTries)
			}
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}
