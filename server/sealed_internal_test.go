package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

func TestUnsealWait(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {2, 0}, {3, time.Second}, {4, 2 * time.Second}, {6, 8 * time.Second}, {11, 256 * time.Second}, {12, maxUnsealWait}, {1000, maxUnsealWait}} {
		if got := unsealWait(tt.failures); got != tt.want {
			t.Errorf("unsealWait(%d) = %v; want %v", tt.failures, got, tt.want)
		}
	}
}

// TestUnsealBacksOff: after the free attempts, an attempt within the
// wait is refused before the HSM is tried, and says how long to wait; a
// running unseal refuses a second one.
func TestUnsealBacksOff(t *testing.T) {
	finished := 0
	last := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	s := &Server{nodeID: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		sealing: &sealing{h: &sealedHSM{kind: "soft"}, failures: freeUnsealAttempts + 1, lastFailure: last,
			now: func() time.Time { return last.Add(500 * time.Millisecond) }, finish: func(context.Context) error { finished++; return nil }}}
	s.sealing.pending.Store(true)
	err := s.unseal([]byte("guess"))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "takes the next attempt in 2s") {
		t.Fatalf("got %v; want resource exhausted, wait 2s", err)
	}
	s.sealing.mu.Lock()
	err = s.unseal([]byte("guess"))
	s.sealing.mu.Unlock()
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("concurrent unseal: %v; want resource exhausted, in progress", err)
	}
	if finished != 0 || !s.stillSealed() {
		t.Fatal("a refused unseal went on")
	}
}

// Close does not wait out a running unseal's start (up to the start-up
// wait when the cluster has no quorum): it ends it.
func TestCloseEndsARunningUnseal(t *testing.T) {
	st := newSealing(&sealedHSM{kind: "soft"})
	s := &Server{nodeID: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil)), sealing: st}
	ctx, cancel := st.finishContext()
	defer cancel()
	st.mu.Lock() // an unseal runs its finish, which returns when its context ends
	go func() { <-ctx.Done(); st.mu.Unlock() }()
	closed := make(chan struct{})
	go func() { s.closeSealing(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("closeSealing waited for a running unseal's finish")
	}
	if !st.closed {
		t.Fatal("the sealing state is not closed")
	}
}
