// Package propagation simulates the propagation delay of an eventually
// consistent service (docs/eventual-consistency.md): it keeps a second,
// delayed copy of the replicated state (a shadow FSM) that applies each
// log entry only once the entry has been applied locally for the delay,
// and the read path serves bounded reads from it. A grant created, a
// grant revoked, a key disabled or a policy changed through any node thus
// takes effect on such reads only after the delay, as on AWS KMS, where
// a program that forgets its grant token fails for a while.
//
// The delay never breaks the consistency model: the consistency Tracker
// asks View for an index that proves freshness within the read's
// staleness bound, and the shadow applies up to it whatever the delay
// says. Writes, linearizable reads, reads with grant tokens and
// min-index reads never see the shadow.
//
// The shadow costs a second copy of the state and a second apply of every
// entry while the mode is on, and nothing while it is off. It starts as a
// copy of the local state when the mode is turned on (and again after the
// local state is restored from a snapshot); from then on it lags.
package propagation

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/fsm"
)

// Config configures a Lag.
type Config struct {
	// Live is the local state machine; Feed is told of each batch it
	// applied.
	Live *fsm.FSM
	// Delay and Jitter are the node's own setting (--simulated-propagation
	// and --simulated-propagation-jitter); a cluster-wide setting
	// (fsm.SetPropagation) overrides them.
	Delay, Jitter time.Duration
	// Now is the clock entries are timed by; nil means time.Now.
	Now func() time.Time
	// Draw returns a uniform duration in [0, n] for the jitter; nil means
	// math/rand/v2.
	Draw   func(n time.Duration) time.Duration
	Logger *slog.Logger
}

// Setting is the simulated propagation in force on this node.
type Setting struct {
	// Delay is this node's delay: the base plus its jitter draw; zero
	// when the mode is off.
	Delay time.Duration
	// Base and Jitter are the setting it was drawn from.
	Base, Jitter time.Duration
	// Accounts, if set, are the only accounts whose callers read the
	// delayed view.
	Accounts []string
	// Source is "cluster" for the cluster-wide setting, "flag" for the
	// node's own, "" when off.
	Source string
}

// Lag keeps the delayed view. It is safe for concurrent use.
type Lag struct {
	cfg    Config
	shadow *fsm.FSM

	delay    atomic.Int64 // Setting.Delay, for the read path
	accounts atomic.Pointer[map[string]bool]

	mu      sync.Mutex
	setting Setting
	from    fsm.Propagation // the cluster-wide setting it was drawn from
	cluster bool            // whether the cluster-wide setting applied
	queue   []pending       // entries applied locally, not yet to the shadow
	// newest is when the newest entry the shadow holds was applied
	// locally (for a copy of the local state: when it was copied).
	newest time.Time
}

type pending struct {
	e  fsm.Entry
	at time.Time
}

// New returns a Lag with the node's own setting in force.
func New(cfg Config) *Lag {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Draw == nil {
		cfg.Draw = func(n time.Duration) time.Duration { return rand.N(n + 1) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lag{cfg: cfg, shadow: fsm.New()}
	l.mu.Lock()
	l.adopt(l.wanted())
	l.mu.Unlock()
	return l
}

// Shadow returns the delayed view: a state machine for reads only.
func (l *Lag) Shadow() *fsm.FSM { return l.shadow }

// Setting returns the simulated propagation in force.
func (l *Lag) Setting() Setting {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.setting
	s.Accounts = slices.Clone(s.Accounts)
	return s
}

// Delay returns the delay a bounded read by a caller of account is
// served with: zero when the mode is off, or aimed at other accounts.
func (l *Lag) Delay(account string) time.Duration {
	d := time.Duration(l.delay.Load())
	if d <= 0 {
		return 0
	}
	if m := l.accounts.Load(); m != nil && !(*m)[account] {
		return 0
	}
	return d
}

// Feed tells the Lag of a batch the local state machine applied, after
// it applied it. Raft's apply goroutine calls it, in log order.
func (l *Lag) Feed(entries []fsm.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.wanted(); w.changed(l) {
		on := l.setting.Delay > 0
		l.adopt(w)
		if !on && l.setting.Delay > 0 {
			l.copyLive() // the batch is in the copy
			return
		}
	}
	if l.setting.Delay <= 0 {
		return
	}
	now := l.cfg.Now()
	for _, e := range entries {
		l.queue = append(l.queue, pending{e: e, at: now})
	}
	l.drain(now, 0)
}

// Reset tells the Lag that the local state was replaced (a snapshot
// restored): the view starts again from a copy of it.
func (l *Lag) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt(l.wanted())
	if l.setting.Delay > 0 {
		l.copyLive()
	}
}

// View applies to the shadow every entry applied locally at least the
// delay ago, and every entry up to index need, and returns the shadow's
// applied index and the delay the view honours: it reflects no entry
// applied locally less than honoured ago. That is the delay, unless need
// made the shadow apply a newer entry.
func (l *Lag) View(need uint64) (idx uint64, honoured time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.drain(now, need)
	return l.shadow.AppliedIndex(), min(l.setting.Delay, max(now.Sub(l.newest), 0))
}

// drain applies the due entries to the shadow. l.mu is held.
func (l *Lag) drain(now time.Time, need uint64) {
	cut := now.Add(-l.setting.Delay)
	n := 0
	for n < len(l.queue) && (!l.queue[n].at.After(cut) || l.queue[n].e.Index <= need) {
		n++
	}
	if n == 0 {
		return
	}
	batch := make([]fsm.Entry, n)
	for i := range n {
		batch[i] = l.queue[i].e
	}
	l.shadow.ApplyBatch(batch)
	l.newest = l.queue[n-1].at
	l.queue = slices.Delete(l.queue, 0, n)
}

// want is the setting this node should follow now.
type want struct {
	cluster bool
	p       fsm.Propagation
}

// wanted reads the cluster-wide setting, or falls back to the flags.
func (l *Lag) wanted() want {
	if p, ok := l.cfg.Live.Propagation(); ok {
		return want{cluster: true, p: p}
	}
	return want{p: fsm.Propagation{DelayMillis: l.cfg.Delay.Milliseconds(), JitterMillis: l.cfg.Jitter.Milliseconds()}}
}

func (w want) changed(l *Lag) bool {
	return w.cluster != l.cluster || w.p.SetAt != l.from.SetAt || w.p.DelayMillis != l.from.DelayMillis ||
		w.p.JitterMillis != l.from.JitterMillis || !slices.Equal(w.p.Accounts, l.from.Accounts)
}

// adopt draws this node's delay from w and puts it in force; turning the
// mode off drops the view. l.mu is held.
func (l *Lag) adopt(w want) {
	base, jitter := time.Duration(w.p.DelayMillis)*time.Millisecond, time.Duration(w.p.JitterMillis)*time.Millisecond
	if !w.cluster {
		base, jitter = l.cfg.Delay, l.cfg.Jitter
	}
	s := Setting{Base: base, Jitter: jitter, Accounts: slices.Clone(w.p.Accounts)}
	if base > 0 {
		s.Delay = base
		if jitter > 0 {
			s.Delay += l.cfg.Draw(jitter)
		}
		s.Source = map[bool]string{true: "cluster", false: "flag"}[w.cluster]
	}
	was := l.setting
	l.setting, l.from, l.cluster = s, w.p, w.cluster
	if len(s.Accounts) > 0 {
		m := make(map[string]bool, len(s.Accounts))
		for _, a := range s.Accounts {
			m[a] = true
		}
		l.accounts.Store(&m)
	} else {
		l.accounts.Store(nil)
	}
	l.delay.Store(int64(s.Delay))
	if s.Delay <= 0 && was.Delay > 0 {
		l.queue = nil
		l.empty()
	}
	if s.Delay != was.Delay || s.Source != was.Source {
		if s.Delay > 0 {
			l.cfg.Logger.Warn("simulated propagation delay in force: bounded reads see changes made through any node only after the delay (docs/eventual-consistency.md)",
				"delay", s.Delay, "base", base, "jitter", jitter, "source", s.Source, "accounts", s.Accounts)
		} else if was.Delay > 0 {
			l.cfg.Logger.Info("simulated propagation delay off")
		}
	}
}

// copyLive makes the shadow a copy of the local state and empties the
// queue: the copy already has every entry applied so far. l.mu is held.
func (l *Lag) copyLive() {
	l.queue = nil
	l.newest = l.cfg.Now()
	l.restore(l.cfg.Live)
}

// empty drops the shadow's state (the mode is off). l.mu is held.
func (l *Lag) empty() { l.restore(fsm.New()) }

// restore makes the shadow a copy of from, through a snapshot.
func (l *Lag) restore(from *fsm.FSM) {
	snap, err := from.Snapshot()
	if err != nil {
		l.cfg.Logger.Error("simulated propagation: cannot copy the state", "err", err)
		return
	}
	defer snap.Release()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(snap.Persist(pw)) }()
	if err := l.shadow.Restore(pr); err != nil {
		l.cfg.Logger.Error("simulated propagation: cannot copy the state", "err", err)
	}
	pr.Close()
}
