package consistency

import (
	"testing"
	"time"
)

// delayer is a fake delayed view that never catches up by itself: it
// moves only as far as View's need.
type delayer struct {
	delay   time.Duration
	account string // if set, the only account delayed
	view    uint64
}

func (d *delayer) Delay(account string) time.Duration {
	if d.account != "" && account != d.account {
		return 0
	}
	return d.delay
}

func (d *delayer) View(need uint64) (uint64, time.Duration) {
	honoured := d.delay
	if need > d.view {
		honoured = d.delay / 2 // as if need made the view apply a newer entry
	}
	d.view = max(d.view, need)
	return d.view, honoured
}

// A bounded read under a simulated propagation delay is served from the
// delayed view, which lags as far as the staleness bound allows and no
// further: the view is moved up to the index of the earliest refresh that
// began within the bound, and the staleness reported is that of the
// freshest refresh the view's index proves. Writes, min-index reads,
// linearizable reads and callers the delay is not aimed at see the local
// state.
func TestBoundedReadsUnderSimulatedPropagation(t *testing.T) {
	d := &delayer{delay: 2 * time.Second, account: "111122223333", view: 5}
	f := newFixture(t, func(c *Config) { c.Propagation = d })
	if err := f.tr.Refresh(t.Context()); err != nil { // t0 = 0 proved by index 5
		t.Fatal(err)
	}
	f.store.apply(10)
	f.reads.set(10, nil)
	f.clock.Advance(400 * time.Millisecond)
	if err := f.tr.Refresh(t.Context()); err != nil { // t0 = 400ms proved by index 10
		t.Fatal(err)
	}
	admit := func(r Request) Served {
		t.Helper()
		if r.Mode == "" {
			r.Mode = Bounded
		}
		s, err := f.tr.Admit(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	acct := "111122223333"
	s := admit(Request{Account: acct})
	if s.Delayed != 2*time.Second || s.AppliedIndex != 5 || s.StalenessBound != 400*time.Millisecond {
		t.Fatalf("at 400ms: served %+v, want the view at index 5, 400ms stale, delayed 2s", s)
	}
	for _, r := range []Request{{Account: acct, Write: true}, {Account: acct, Mode: MinIndex, MinIndex: 10},
		{Account: acct, Mode: Linearizable}, {Account: "444455556666"}} {
		if s := admit(r); s.Delayed != 0 || s.AppliedIndex != 10 {
			t.Fatalf("%+v: served %+v, want the local state", r, s)
		}
	}
	// At 1.2s the refresh at 0 is past the bound: the view must reach the
	// one at 400ms, and is 800ms stale.
	f.clock.Advance(800 * time.Millisecond)
	if s := admit(Request{Account: acct}); s.AppliedIndex != 10 || s.StalenessBound != 800*time.Millisecond || d.view != 10 || s.Delayed != time.Second {
		t.Fatalf("at 1.2s: served %+v (view %d), want the view moved to index 10, 800ms stale, the delay cut to 1s", s, d.view)
	}
	// A request that tightens the bound to 0s moves the view to the
	// newest proof at once.
	f.store.apply(12)
	f.reads.set(12, nil)
	if s := admit(Request{Account: acct, MaxStaleness: 1}); s.AppliedIndex != 12 || s.StalenessBound != 0 {
		t.Fatalf("with 0s: served %+v, want index 12, fresh", s)
	}
}
