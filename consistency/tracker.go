package consistency

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/wire"
)

// ReadIndexer returns a raft index that the local state must apply to
// reflect every write committed before the call started (a ReadIndex
// exchange with the leader).
type ReadIndexer interface {
	ReadIndex(ctx context.Context) (uint64, error)
}

// Store is the local state machine's progress.
type Store interface {
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, idx uint64) error
}

// Config configures a Tracker.
type Config struct {
	// NodeID names this node in refusals.
	NodeID string
	// MaxStaleness is the node's bound for bounded reads; zero means 1s.
	MaxStaleness time.Duration
	// Reads and Store are the cluster's read index and the local state.
	Reads ReadIndexer
	Store Store
	// RefreshTimeout bounds one refresh (read index and catch-up); zero
	// means 2s.
	RefreshTimeout time.Duration
	// WaitTimeout bounds how long a read waits for a refresh or for its
	// minimum index before it is refused; zero means 1s.
	WaitTimeout time.Duration
	// HedgeAfter is how long a queued refresh waits for the read index
	// exchange in progress to end before it starts anyway (an exchange
	// stuck on a leader that went silent must not hold every read until
	// it times out); zero means 100ms.
	HedgeAfter time.Duration
	// Now is a monotonic clock; nil means time.Now (whose readings carry
	// the monotonic clock).
	Now func() time.Time
	// UnsafeSkipFreshness serves bounded reads with no freshness check and
	// reports them as perfectly fresh. It exists only so the Jepsen canary
	// can prove that the checkers catch a node that breaks the promise.
	UnsafeSkipFreshness bool
	Logger              *slog.Logger
	// Observer, if set, is told how each call was admitted (metrics).
	Observer Observer
	// Propagation, if set, simulates propagation delay: bounded reads are
	// served from its delayed view (docs/eventual-consistency.md).
	Propagation Delayer
}

// Delayer keeps a view of the state that lags the local state by a
// simulated propagation delay (package propagation).
type Delayer interface {
	// Delay returns the delay a bounded read by a caller of account is
	// served with now; zero means none (the read sees the local state).
	Delay(account string) time.Duration
	// View advances the delayed view over every entry applied at least
	// the delay ago, and further up to index need if it lags below it,
	// and returns its applied index and the delay it honours: the view
	// reflects no entry applied locally less than honoured ago (the delay
	// itself, or less where need cut it short).
	View(need uint64) (idx uint64, honoured time.Duration)
}

// Observer is told of the Tracker's decision on each call: call is "read"
// or "write" (a write reads the local state to decide, and is admitted
// like a read), mode is the requested Mode, outcome one of the Outcome
// values.
type Observer interface {
	ReadAdmitted(call, mode, outcome string)
}

// The outcomes an Observer is told of.
const (
	// OutcomeServed: the call was admitted.
	OutcomeServed = "served"
	// OutcomeStale: refused, freshness could not be confirmed within the
	// staleness bound.
	OutcomeStale = "stale"
	// OutcomeMinIndex: refused, the requested minimum index was not
	// applied in time.
	OutcomeMinIndex = "min_index"
	// OutcomeUnconfirmed: a linearizable call refused, the read barrier
	// with the leader did not complete in time.
	OutcomeUnconfirmed = "unconfirmed"
)

// Tracker keeps this node's "fresh as of" instant and admits reads. It is
// safe for concurrent use.
type Tracker struct {
	cfg   Config
	epoch time.Time
	// fresh is t0 as nanoseconds since epoch; negative until the first
	// successful refresh.
	fresh atomic.Int64
	// bound is the node's staleness bound (cfg.MaxStaleness until
	// SetMaxStaleness changes it), and rebound wakes Run to pace its
	// refreshes to a new one.
	bound   atomic.Int64
	rebound chan struct{}

	mu sync.Mutex
	// flight is the latest refresh started, until it completes.
	flight *flight
	// asking counts the read index exchanges in progress: a refresh
	// needed meanwhile is queued in next, and all that arrive until an
	// exchange ends (or HedgeAfter passes) share it (see refresh).
	asking int
	next   *flight
	lost   bool // the background refresh is failing (for logging transitions)

	// history holds the last refreshes, for reads from a delayed view:
	// which index proves which freshness.
	histMu  sync.Mutex
	history [historySize]refreshed
	histLen int // records held; the newest at history[(histLen-1)%historySize]
}

// historySize is how many refreshes the Tracker remembers: at two a
// bound, far more than a bound's worth.
const historySize = 256

// refreshed is one completed refresh: once index idx is applied, the
// state is fresh as of t0 (ns since epoch).
type refreshed struct {
	t0  int64
	idx uint64
}

// flight is one refresh: a read index exchange and the wait for it.
type flight struct {
	t0      int64       // when it started, ns since epoch; set when it starts
	waiters int         // callers waiting on it; guarded by Tracker.mu
	hedge   *time.Timer // while queued: starts it after HedgeAfter
	done    chan struct{}
	err     error
}

// New returns a Tracker. Call Run to keep it fresh in the background.
func New(cfg Config) (*Tracker, error) {
	if cfg.Reads == nil || cfg.Store == nil {
		return nil, errors.New("consistency: Reads and Store are required")
	}
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = time.Second
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = 2 * time.Second
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = time.Second
	}
	if cfg.HedgeAfter <= 0 {
		cfg.HedgeAfter = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{cfg: cfg, epoch: cfg.Now(), rebound: make(chan struct{}, 1)}
	t.fresh.Store(-1)
	t.bound.Store(int64(cfg.MaxStaleness))
	return t, nil
}

// MaxStaleness returns the node's staleness bound for bounded reads.
func (t *Tracker) MaxStaleness() time.Duration { return time.Duration(t.bound.Load()) }

// SetMaxStaleness changes the node's staleness bound (a configuration
// reload): reads admitted from now on are held to d, and Run paces its
// refreshes to it at once. d must be positive.
func (t *Tracker) SetMaxStaleness(d time.Duration) {
	if d <= 0 {
		return
	}
	t.bound.Store(int64(d))
	select {
	case t.rebound <- struct{}{}:
	default:
	}
}

func (t *Tracker) since() int64 { return int64(t.cfg.Now().Sub(t.epoch)) }

// age returns now - t0 (zero if t0 is later), and false if the node was
// never fresh.
func (t *Tracker) age(now int64) (time.Duration, bool) {
	f := t.fresh.Load()
	if f < 0 {
		return 0, false
	}
	return time.Duration(max(now-f, 0)), true
}

// Age returns how long ago the local state was last confirmed fresh, and
// false if it never was.
func (t *Tracker) Age() (time.Duration, bool) { return t.age(t.since()) }

// Run refreshes every MaxStaleness/2 until ctx ends, so that bounded reads
// rarely wait.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.MaxStaleness() / 2)
	defer tick.Stop()
	for {
		err := t.refresh(ctx, t.since())
		t.noteRefresh(err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-t.rebound:
			tick.Reset(t.MaxStaleness() / 2)
		}
	}
}

// noteRefresh logs when the background refresh starts or stops failing.
func (t *Tracker) noteRefresh(err error) {
	t.mu.Lock()
	was := t.lost
	t.lost = err != nil
	t.mu.Unlock()
	switch {
	case err != nil && !was:
		t.cfg.Logger.Warn("cannot confirm freshness with the leader; bounded reads will be refused once the bound lapses",
			"max_staleness", t.MaxStaleness(), "err", err)
	case err == nil && was:
		t.cfg.Logger.Info("freshness confirmed again")
	}
}

// Refresh confirms freshness now: it returns once the local state reflects
// every write committed before the call.
func (t *Tracker) Refresh(ctx context.Context) error { return t.refresh(ctx, t.since()) }

// refresh waits for a refresh that started at or after need (ns since
// epoch).
//
// It joins the latest refresh if that started at or after need. Otherwise
// it starts one, unless a read index exchange is in progress: then it
// joins the refresh queued to start when that exchange ends, which every
// caller arriving meanwhile shares. A queued refresh notes its t0 only
// when it starts, after all of its callers arrived, so it qualifies for
// each of them; the exchange in progress does not, as it may have begun
// before they did. So a node asks the leader at most once at a time, and
// concurrent linearizable reads cost one exchange per round trip, not one
// each, while each is still served by an exchange that began after it.
// A queued refresh also starts once it has waited HedgeAfter, so that an
// exchange stuck on a silent leader delays reads by that much at most,
// not by its timeout; the node then asks again at most once per HedgeAfter.
func (t *Tracker) refresh(ctx context.Context, need int64) error {
	t.mu.Lock()
	f := t.flight
	switch {
	case f != nil && f.t0 >= need:
	case t.asking > 0:
		if t.next == nil {
			n := &flight{done: make(chan struct{})}
			n.hedge = time.AfterFunc(t.cfg.HedgeAfter, func() { t.startQueued(n) })
			t.next = n
		}
		f = t.next
	default:
		f = &flight{done: make(chan struct{})}
		t.start(f)
	}
	f.waiters++
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start starts f now; t.mu is held.
func (t *Tracker) start(f *flight) {
	f.t0 = t.since()
	t.flight = f
	t.asking++
	go t.fly(f)
}

// startQueued starts n if it is still the queued refresh.
func (t *Tracker) startQueued(n *flight) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next == n {
		t.next = nil
		t.start(n)
	}
}

// fly runs one refresh. It does not use a caller's context: others may be
// waiting on it. Once its exchange ends it starts the queued refresh, if
// any, and then waits for the local state to apply the index.
func (t *Tracker) fly(f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.RefreshTimeout)
	defer cancel()
	idx, err := t.cfg.Reads.ReadIndex(ctx)
	t.mu.Lock()
	t.asking--
	if n := t.next; n != nil {
		n.hedge.Stop()
		t.next = nil
		t.start(n)
	}
	t.mu.Unlock()
	if err == nil {
		err = t.cfg.Store.WaitApplied(ctx, idx)
	}
	if err == nil {
		// Every write committed before f.t0 is at or below idx, and idx is
		// applied: the state is fresh as of f.t0. The history learns it
		// first, so that a read admitted on the new t0 finds its proof.
		if t.cfg.Propagation != nil {
			t.remember(f.t0, idx)
		}
		for {
			cur := t.fresh.Load()
			if f.t0 <= cur || t.fresh.CompareAndSwap(cur, f.t0) {
				break
			}
		}
	}
	// Forget f before its callers learn the outcome, so that none of
	// theirs joins it after it ended.
	t.mu.Lock()
	if t.flight == f {
		t.flight = nil
	}
	t.mu.Unlock()
	f.err = err
	close(f.done)
}

// Admit decides whether a call may be served under r, waiting briefly for
// a refresh or for r.MinIndex when needed. A refusal is a *wire.Error.
func (t *Tracker) Admit(ctx context.Context, r Request) (Served, error) {
	s, outcome, err := t.admit(ctx, r)
	if o := t.cfg.Observer; o != nil {
		mode := r.Mode
		if mode == "" {
			mode = Bounded
		}
		o.ReadAdmitted(r.what(), string(mode), outcome)
	}
	return s, err
}

func (t *Tracker) admit(ctx context.Context, r Request) (Served, string, error) {
	start := t.since()
	if r.Mode == Linearizable {
		wctx, cancel := context.WithTimeout(ctx, t.cfg.RefreshTimeout)
		err := t.refresh(wctx, start)
		cancel()
		if err != nil {
			return Served{}, OutcomeUnconfirmed, unavailable("Node %s could not confirm its state with the leader in time for a linearizable %s; retry the request.", t.cfg.NodeID, r.what())
		}
		return Served{Mode: Linearizable, AppliedIndex: t.cfg.Store.AppliedIndex()}, OutcomeServed, nil
	}
	if r.MinIndex > 0 {
		if err := t.waitIndex(ctx, r.MinIndex); err != nil {
			return Served{}, OutcomeMinIndex, err
		}
	}
	limit := t.MaxStaleness()
	if r.MaxStaleness > 0 && r.MaxStaleness < limit {
		limit = r.MaxStaleness
	}
	if t.cfg.UnsafeSkipFreshness {
		return Served{Mode: r.Mode, AppliedIndex: t.cfg.Store.AppliedIndex()}, OutcomeServed, nil
	}
	// The bound is measured from the call's start: the state must reflect
	// every write acknowledged before start - limit.
	age, ok := t.age(start)
	if !ok || age > limit {
		// Join or start a refresh that began no earlier than start - limit:
		// once it completes, the state is fresh enough for this call.
		wctx, cancel := context.WithTimeout(ctx, t.cfg.WaitTimeout)
		err := t.refresh(wctx, start-int64(limit))
		cancel()
		if err != nil {
			return Served{}, OutcomeStale, t.stale(r, limit, age, ok)
		}
		age, _ = t.age(start)
	}
	if r.Mode == Bounded && !r.Write && t.cfg.Propagation != nil {
		if t.cfg.Propagation.Delay(r.Account) > 0 {
			return t.delayed(start, limit), OutcomeServed, nil
		}
	}
	return Served{Mode: r.Mode, StalenessBound: age, AppliedIndex: t.cfg.Store.AppliedIndex()}, OutcomeServed, nil
}

// delayed admits a bounded read to the delayed view: the view goes at
// least as far as the earliest refresh that began within the bound
// (start - limit), so the read reflects every write acknowledged before
// then, and the staleness it reports is that of the freshest refresh the
// view's index proves. The caller has made sure such a refresh exists.
func (t *Tracker) delayed(start int64, limit time.Duration) Served {
	need, ok := t.proof(start - int64(limit))
	if !ok {
		need = t.cfg.Store.AppliedIndex() // no proof: the current state is fresh enough
	}
	idx, honoured := t.cfg.Propagation.View(need)
	fresh := t.freshAt(idx)
	return Served{Mode: Bounded, StalenessBound: time.Duration(max(start-fresh, 0)), AppliedIndex: idx, Delayed: max(honoured, 1)}
}

// remember records a completed refresh.
func (t *Tracker) remember(t0 int64, idx uint64) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	if t.histLen > 0 {
		last := &t.history[(t.histLen-1)%historySize]
		if last.idx == idx && last.t0 <= t0 {
			last.t0 = t0 // the same index proves a later instant
			return
		}
	}
	t.history[t.histLen%historySize] = refreshed{t0: t0, idx: idx}
	t.histLen++
}

// proof returns the smallest index whose application proves freshness as
// of since or later, and false if no remembered refresh began that late.
func (t *Tracker) proof(since int64) (uint64, bool) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	var best uint64
	found := false
	for i := max(t.histLen-historySize, 0); i < t.histLen; i++ {
		r := t.history[i%historySize]
		if r.t0 >= since && (!found || r.idx < best) {
			best, found = r.idx, true
		}
	}
	return best, found
}

// freshAt returns the latest instant (ns since epoch) that a state having
// applied idx is proved fresh as of; the oldest remembered refresh if
// none is proved (which proof's caller never meets).
func (t *Tracker) freshAt(idx uint64) int64 {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	fresh := int64(-1)
	oldest := int64(0)
	for i := max(t.histLen-historySize, 0); i < t.histLen; i++ {
		r := t.history[i%historySize]
		if i == max(t.histLen-historySize, 0) {
			oldest = r.t0
		}
		if r.idx <= idx && r.t0 > fresh {
			fresh = r.t0
		}
	}
	if fresh < 0 {
		return oldest
	}
	return fresh
}

func (t *Tracker) stale(r Request, limit, age time.Duration, ever bool) error {
	if !ever {
		return unavailable("Node %s cannot serve this %s within the staleness bound of %s: it has not confirmed its state with the leader since it started. Retry the request, here or on another node.",
			t.cfg.NodeID, r.what(), limit)
	}
	return unavailable("Node %s cannot serve this %s within the staleness bound of %s: its state was last confirmed fresh %s ago. Retry the request, here or on another node.",
		t.cfg.NodeID, r.what(), limit, FormatBound(age))
}

func (t *Tracker) waitIndex(ctx context.Context, idx uint64) error {
	if t.cfg.Store.AppliedIndex() >= idx {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, t.cfg.WaitTimeout)
	defer cancel()
	if err := t.cfg.Store.WaitApplied(wctx, idx); err != nil {
		return unavailable("Node %s has applied raft index %d, below the requested %s %d, and did not catch up within %s; retry the request.",
			t.cfg.NodeID, t.cfg.Store.AppliedIndex(), wire.MinIndexHeader, idx, t.cfg.WaitTimeout)
	}
	return nil
}

// ReadIndex returns an index that the local state has already applied and
// that reflects every write committed before the call: a linearizable
// barrier, shared with concurrent callers. It lets the service's own
// linearizable reads (grant tokens) share the Tracker's barriers.
func (t *Tracker) ReadIndex(ctx context.Context) (uint64, error) {
	if err := t.refresh(ctx, t.since()); err != nil {
		return 0, err
	}
	return t.cfg.Store.AppliedIndex(), nil
}
