package fsm

import (
	"context"
	"errors"
	"testing"
)

// fakeLog answers every proposal with resp, or applies it to f.
type fakeLog struct {
	f    *FSM
	resp any
	err  error
}

func (l *fakeLog) Apply(_ context.Context, cmd []byte) (any, uint64, error) {
	if l.err != nil {
		return nil, 0, l.err
	}
	if l.f == nil {
		return l.resp, 7, nil
	}
	idx := l.f.AppliedIndex() + 1
	return l.f.Apply(Entry{Index: idx, Data: cmd}), idx, nil
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	l := &fakeLog{f: New()}
	r, idx, err := Apply(ctx, l, create("k"))
	if err != nil || idx != 1 || r.Key.ID != "k" || r.Index != 1 {
		t.Fatalf("CreateKey: %+v, %d, %v", r, idx, err)
	}
	// A refusal is the error, with the index it applied at.
	r, idx, err = Apply(ctx, l, setEnabled("nope", true))
	var rej *Rejection
	if !errors.As(err, &rej) || rej.Type != "NotFoundException" || idx != 2 || r != nil {
		t.Fatalf("refused SetKeyEnabled: %+v, %d, %v", r, idx, err)
	}
	// The log's errors pass through unchanged.
	boom := errors.New("boom")
	if _, _, err := Apply(ctx, &fakeLog{err: boom}, create("k")); err != boom {
		t.Fatalf("log error: %v", err)
	}
	// An invalid command never reaches the log.
	if _, _, err := Apply(ctx, &fakeLog{err: boom}, &CreateKey{}); !errors.Is(err, ErrMalformedCommand) {
		t.Fatalf("invalid command: %v", err)
	}
}

// A response that is not a *Result is an error, never a panic.
func TestApplyRefusesAnUnexpectedResponse(t *testing.T) {
	for _, resp := range []any{nil, Result{}, (*Result)(nil), "ok", errors.New("x")} {
		r, _, err := Apply(context.Background(), &fakeLog{resp: resp}, &Noop{})
		if !errors.Is(err, ErrUnexpectedResponse) || r != nil {
			t.Errorf("response %#v: got %v, %v", resp, r, err)
		}
	}
}
