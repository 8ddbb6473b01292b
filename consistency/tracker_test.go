package consistency

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/wire"
)

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// store is a fake state machine whose applied index the test moves.
type store struct {
	mu       sync.Mutex
	applied  uint64
	blockedN int
	changed  chan struct{}
}

func newStore(applied uint64) *store { return &store{applied: applied, changed: make(chan struct{})} }

func (s *store) AppliedIndex() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.applied }
func (s *store) apply(idx uint64) {
	s.mu.Lock()
	s.applied = idx
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}
func (s *store) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		s.mu.Lock()
		ok, ch := s.applied >= idx, s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		s.mu.Lock()
		s.blockedN++
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reads is a fake leader: it answers index (or err), optionally advancing
// the clock first (a round trip), and counts calls.
type reads struct {
	mu      sync.Mutex
	index   uint64
	err     error
	rtt     time.Duration
	clock   *clock
	calls   int
	gate    chan struct{} // when non-nil, each call waits for a value
	entered chan struct{}
}

func (r *reads) ReadIndex(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	r.calls++
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rtt > 0 {
		r.clock.Advance(r.rtt)
	}
	return r.index, r.err
}

func (r *reads) set(index uint64, err error) {
	r.mu.Lock()
	r.index, r.err = index, err
	r.mu.Unlock()
}

func (r *reads) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.calls }

type fixture struct {
	clock *clock
	store *store
	reads *reads
	tr    *Tracker
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	c := &clock{now: time.Unix(1000, 0)}
	st := newStore(5)
	rd := &reads{index: 5, clock: c}
	cfg := Config{NodeID: "n2", MaxStaleness: time.Second, Reads: rd, Store: st, Now: c.Now,
		WaitTimeout: 10 * time.Second, RefreshTimeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{clock: c, store: st, reads: rd, tr: tr}
}

func refusal(t *testing.T, err error, want string) {
	t.Helper()
	var e *wire.Error
	if !errors.As(err, &e) || e.Type != "DependencyTimeoutException" || !e.Retryable() {
		t.Fatalf("err = %v, want a retryable DependencyTimeoutException", err)
	}
	if !strings.Contains(e.Message, want) {
		t.Fatalf("message %q does not contain %q", e.Message, want)
	}
}

func TestBoundedServesWithinBoundWithoutContactingLeader(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(400 * time.Millisecond)
	s, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != Bounded || s.StalenessBound != 400*time.Millisecond || s.AppliedIndex != 5 {
		t.Fatalf("served %+v", s)
	}
	if n := f.reads.count(); n != 1 {
		t.Fatalf("%d read index calls, want only the refresh's 1", n)
	}
}

func TestBoundedRefreshesOnceTheBoundLapses(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(1500 * time.Millisecond)
	f.reads.set(9, nil)
	f.store.apply(9)
	s, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	if err != nil {
		t.Fatal(err)
	}
	if s.StalenessBound != 0 || s.AppliedIndex != 9 || f.reads.count() != 2 {
		t.Fatalf("served %+v after %d read index calls", s, f.reads.count())
	}
}

func TestBoundedRefusesWhenTheLeaderCannotBeReached(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.reads.set(0, errors.New("partitioned"))
	f.clock.Advance(1500 * time.Millisecond)
	_, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	refusal(t, err, "staleness bound of 1s: its state was last confirmed fresh 1.5s ago")
	if _, ok := f.tr.Age(); !ok {
		t.Fatal("a failed refresh forgot the last good one")
	}
}

func TestBoundedRefusesBeforeTheFirstRefresh(t *testing.T) {
	f := newFixture(t, nil)
	f.reads.set(0, errors.New("no leader"))
	_, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	refusal(t, err, "has not confirmed its state with the leader since it started")
}

func TestRefreshCountsOnlyOnceTheStateHasCaughtUp(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RefreshTimeout, c.WaitTimeout = 20*time.Millisecond, 20*time.Millisecond })
	f.reads.set(12, nil) // the leader is ahead; this node never applies 12
	if err := f.tr.Refresh(t.Context()); err == nil {
		t.Fatal("refresh succeeded although the state never reached the leader's index")
	}
	if _, ok := f.tr.Age(); ok {
		t.Fatal("freshness recorded without catching up")
	}
	_, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	refusal(t, err, "has not confirmed")
}

func TestFreshAsOfIsTakenBeforeTheReadIndexExchange(t *testing.T) {
	f := newFixture(t, nil)
	f.reads.mu.Lock()
	f.reads.rtt = 300 * time.Millisecond
	f.reads.mu.Unlock()
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if age, _ := f.tr.Age(); age != 300*time.Millisecond {
		t.Fatalf("age right after a refresh with a 300ms round trip = %s, want 300ms", age)
	}
}

func TestRequestCanTightenButNotLoosenTheBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		age     time.Duration
		ask     time.Duration
		reachOK bool
		wantErr string
		wantRPC int // read index calls after the initial refresh
	}{
		{name: "tighter bound forces a refresh", age: 500 * time.Millisecond, ask: 100 * time.Millisecond, reachOK: true, wantRPC: 1},
		{name: "tighter bound unmet is refused", age: 500 * time.Millisecond, ask: 100 * time.Millisecond, wantErr: "staleness bound of 100ms", wantRPC: 1},
		{name: "looser bound is the node's", age: 1500 * time.Millisecond, ask: 5 * time.Second, wantErr: "staleness bound of 1s", wantRPC: 1},
		{name: "looser bound within the node's", age: 500 * time.Millisecond, ask: 5 * time.Second, wantRPC: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if err := f.tr.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !tc.reachOK {
				f.reads.set(0, errors.New("partitioned"))
			}
			f.clock.Advance(tc.age)
			_, err := f.tr.Admit(t.Context(), Request{Mode: Bounded, MaxStaleness: tc.ask})
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				refusal(t, err, tc.wantErr)
			}
			if n := f.reads.count() - 1; n != tc.wantRPC {
				t.Fatalf("%d read index calls, want %d", n, tc.wantRPC)
			}
		})
	}
}

func TestLinearizableAlwaysAsksTheLeaderAndWaitsForTheIndex(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.reads.set(8, nil)
	done := make(chan error, 1)
	var s Served
	go func() {
		var err error
		s, err = f.tr.Admit(context.Background(), Request{Mode: Linearizable})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("linearizable read served before the state reached the leader's index (err %v)", err)
	case <-f.store.blocked(t):
	}
	f.store.apply(8)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.Mode != Linearizable || s.StalenessBound != 0 || s.AppliedIndex != 8 || f.reads.count() != 2 {
		t.Fatalf("served %+v after %d read index calls", s, f.reads.count())
	}
}

// blocked returns a closed channel once some caller is blocked in
// WaitApplied, polling (without sleeping) up to a deadline.
func (s *store) blocked(t *testing.T) <-chan struct{} {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := s.blockedN
		s.mu.Unlock()
		if n > 0 {
			ch := make(chan struct{})
			close(ch)
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatal("nobody waited for the state to apply an index")
		}
		runtime.Gosched()
	}
}

// waiters returns how many callers wait on the refresh in flight.
func (t *Tracker) waiters() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.flight == nil {
		return 0
	}
	return t.flight.waiters
}

func TestConcurrentLinearizableReadsShareABarrier(t *testing.T) {
	f := newFixture(t, nil)
	gate, entered := make(chan struct{}), make(chan struct{}, 8)
	f.reads.mu.Lock()
	f.reads.gate, f.reads.entered = gate, entered
	f.reads.mu.Unlock()
	// Both reads start at the same instant: one barrier serves both.
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := f.tr.Admit(context.Background(), Request{Mode: Linearizable}); errs <- err }()
	}
	<-entered
	// Let the second reader reach refresh; it must join, not start another.
	deadline := time.Now().Add(10 * time.Second)
	for f.tr.waiters() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second read never joined the barrier")
		}
		runtime.Gosched()
	}
	close(gate)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := f.reads.count(); n != 1 {
		t.Fatalf("%d read index calls, want 1 shared barrier", n)
	}
}

func TestMinIndex(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.WaitTimeout = 20 * time.Millisecond })
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := f.tr.Admit(t.Context(), Request{Mode: MinIndex, MinIndex: 5})
	if err != nil || s.Mode != MinIndex {
		t.Fatalf("served %+v, %v", s, err)
	}
	_, err = f.tr.Admit(t.Context(), Request{Mode: MinIndex, MinIndex: 7})
	refusal(t, err, "has applied raft index 5, below the requested Trent-Min-Index 7")
}

func TestUnsafeModeSkipsTheCheck(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.UnsafeSkipFreshness = true })
	f.reads.set(0, errors.New("partitioned"))
	f.clock.Advance(time.Hour)
	s, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	if err != nil || s.StalenessBound != 0 || f.reads.count() != 0 {
		t.Fatalf("unsafe mode: served %+v, %v after %d read index calls", s, err, f.reads.count())
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    Request
		wantErr string
	}{
		{name: "default", want: Request{Mode: Bounded}},
		{name: "linearizable", headers: map[string]string{wire.ConsistencyHeader: "Linearizable"}, want: Request{Mode: Linearizable}},
		{name: "bounded tightened", headers: map[string]string{wire.MaxStalenessHeader: "250ms"}, want: Request{Mode: Bounded, MaxStaleness: 250 * time.Millisecond}},
		{name: "zero staleness", headers: map[string]string{wire.MaxStalenessHeader: "0s"}, want: Request{Mode: Bounded, MaxStaleness: 1}},
		{name: "min index", headers: map[string]string{wire.MinIndexHeader: "42"}, want: Request{Mode: MinIndex, MinIndex: 42}},
		{name: "min index with linearizable", headers: map[string]string{wire.MinIndexHeader: "42", wire.ConsistencyHeader: "linearizable"}, want: Request{Mode: Linearizable, MinIndex: 42}},
		{name: "unknown mode", headers: map[string]string{wire.ConsistencyHeader: "eventual"}, wantErr: `Trent-Consistency must be bounded or linearizable, not "eventual".`},
		{name: "bad duration", headers: map[string]string{wire.MaxStalenessHeader: "soon"}, wantErr: "Trent-Max-Staleness must be a non-negative duration"},
		{name: "negative duration", headers: map[string]string{wire.MaxStalenessHeader: "-1s"}, wantErr: "Trent-Max-Staleness must be a non-negative duration"},
		{name: "bad index", headers: map[string]string{wire.MinIndexHeader: "-3"}, wantErr: "Trent-Min-Index must be a raft index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			got, err := ParseRequest(h)
			if tc.wantErr != "" {
				var e *wire.Error
				if !errors.As(err, &e) || e.Type != "ValidationException" || !strings.Contains(e.Message, tc.wantErr) {
					t.Fatalf("err = %v, want ValidationException containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestServedHeaders(t *testing.T) {
	h := http.Header{}
	Served{Mode: Bounded, StalenessBound: 12500 * time.Microsecond, AppliedIndex: 42}.SetHeaders(h)
	if h.Get(wire.ConsistencyHeader) != "bounded" || h.Get(wire.StalenessBoundHeader) != "12.5ms" || h.Get(wire.AppliedIndexHeader) != "42" {
		t.Fatalf("headers %v", h)
	}
}

// A reload changes the bound: a read the old bound served is refused under
// a tighter one (it waits for a refresh, which fails here), and served
// again once the bound is widened.
func TestSetMaxStalenessChangesTheBound(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.reads.set(0, errors.New("partitioned"))
	f.clock.Advance(400 * time.Millisecond)
	if _, err := f.tr.Admit(t.Context(), Request{Mode: Bounded}); err != nil {
		t.Fatalf("under 1s: %v", err)
	}
	f.tr.SetMaxStaleness(100 * time.Millisecond)
	if got := f.tr.MaxStaleness(); got != 100*time.Millisecond {
		t.Fatalf("MaxStaleness() = %s", got)
	}
	_, err := f.tr.Admit(t.Context(), Request{Mode: Bounded})
	refusal(t, err, "staleness bound of 100ms: its state was last confirmed fresh 400ms ago")
	f.tr.SetMaxStaleness(time.Minute)
	if s, err := f.tr.Admit(t.Context(), Request{Mode: Bounded}); err != nil || s.StalenessBound != 400*time.Millisecond {
		t.Fatalf("under 1m: %+v, %v", s, err)
	}
	f.tr.SetMaxStaleness(0) // ignored
	if got := f.tr.MaxStaleness(); got != time.Minute {
		t.Fatalf("MaxStaleness() = %s after SetMaxStaleness(0)", got)
	}
}
