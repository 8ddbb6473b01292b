package consistency

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

type admissions struct {
	mu  sync.Mutex
	got []string
}

func (a *admissions) ReadAdmitted(call, mode, outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, call+" "+mode+" "+outcome)
}

// TestObserverSeesEveryDecision: each admission and each kind of refusal
// is reported once, under the requested mode.
func TestObserverSeesEveryDecision(t *testing.T) {
	obs := &admissions{}
	f := newFixture(t, func(c *Config) {
		c.Observer = obs
		c.WaitTimeout = 50 * time.Millisecond
		c.RefreshTimeout = 50 * time.Millisecond
	})
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tr.Admit(t.Context(), Request{Mode: Bounded}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tr.Admit(t.Context(), Request{Mode: Bounded, Write: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tr.Admit(t.Context(), Request{Mode: MinIndex, MinIndex: 99}); err == nil {
		t.Fatal("served below the minimum index")
	}
	f.reads.set(0, errors.New("partitioned"))
	f.clock.Advance(1500 * time.Millisecond)
	if _, err := f.tr.Admit(t.Context(), Request{}); err == nil {
		t.Fatal("served a stale read")
	}
	if _, err := f.tr.Admit(t.Context(), Request{Mode: Linearizable}); err == nil {
		t.Fatal("served a linearizable read without a barrier")
	}
	want := []string{"read bounded served", "write bounded served", "read min_index min_index", "read bounded stale",
		"read linearizable unconfirmed"}
	if !slices.Equal(obs.got, want) {
		t.Fatalf("observed %q, want %q", obs.got, want)
	}
	if f.tr.MaxStaleness() != time.Second {
		t.Fatalf("MaxStaleness %s, want the configured 1s", f.tr.MaxStaleness())
	}
}
