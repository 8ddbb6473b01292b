package soft

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/hsm"
)

type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) HSMDone(op string, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	l.ops = append(l.ops, op+" "+outcome)
}

// TestObserverSeesEachOperation: each operation is reported once with its
// outcome, and the cache counts a first unwrap as a miss and a second as
// a hit.
func TestObserverSeesEachOperation(t *testing.T) {
	log := &opLog{}
	h := newTestHSM(t, WithObserver(log)).HSM
	ctx := context.Background()
	ref := newKey(t, h, id(1), id(2))
	body := mustSeal(t, h, ref, id(3), nil, []byte("x"))
	if _, err := h.Open(ctx, ref, id(3), nil, body); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Open(ctx, ref, id(4), nil, body); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("Open under another nonce: %v", err)
	}
	if _, err := h.MAC(ctx, "test/v1", []byte("m")); err != nil {
		t.Fatal(err)
	}
	want := []string{"GenerateKey ok", "Seal ok", "Open ok", "Open error", "MAC ok"}
	if !slices.Equal(log.ops, want) {
		t.Fatalf("observed %q, want %q", log.ops, want)
	}
	// GenerateKey cached the material: every lookup since hit.
	if hits, misses := h.CacheStats(); hits != 3 || misses != 0 {
		t.Fatalf("cache hits %d, misses %d; want 3 and 0", hits, misses)
	}
}
