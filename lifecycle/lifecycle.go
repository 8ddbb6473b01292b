package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trentkms/trent/failpoint"
	"github.com/trentkms/trent/fsm"
)

// Task returns the command that acts on k at now, or nil when k is not
// due. It must not change state itself: the runner proposes the command.
type Task func(ctx context.Context, k *fsm.Key, now time.Time) (fsm.Command, error)

// Sweep returns the command that tidies state other than keys at now (the
// expired certificates' records), or nil when nothing is due. It runs once
// a pass, after the keys, and must not change state itself.
type Sweep func(ctx context.Context, now time.Time) (fsm.Command, error)

// Keys is the read side the runner walks.
type Keys interface {
	// ScanKeys returns up to limit keys of every account with ids
	// greater than after, in id order, and whether more follow.
	ScanKeys(after string, limit int) ([]*fsm.Key, bool)
}

// Leader reports whether this node leads; only the leader runs passes.
type Leader interface {
	IsLeader() bool
}

// Config configures a Runner.
type Config struct {
	Keys   Keys
	Log    fsm.Log
	Leader Leader
	// Tasks run on every key, in order, each pass.
	Tasks []Task
	// Sweeps run once each pass, after the keys, in order.
	Sweeps []Sweep
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval is the time between passes; zero means one minute.
	Interval time.Duration
	// Logger receives failed proposals; nil discards them.
	Logger *slog.Logger
	// Applied, if set, is told of each command the state machine
	// accepted, with its result and index: the server records them in
	// the audit trail as service events.
	Applied func(ctx context.Context, cmd fsm.Command, r *fsm.Result, index uint64)
}

// Runner runs passes on the leader.
type Runner struct {
	cfg Config
}

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Keys == nil || cfg.Log == nil || cfg.Leader == nil {
		return nil, errors.New("lifecycle: Keys, Log and Leader are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg}, nil
}

// Run runs a pass every interval, while this node leads, until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.cfg.Leader.IsLeader() {
			continue
		}
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("lifecycle pass", "err", err)
		}
	}
}

// pageSize bounds the keys a pass holds at once.
const pageSize = 512

// Pass walks every key once at one reading of the clock and proposes
// what is due. It returns how many commands the state machine accepted.
// Refusals (the key changed since the walk read it) are expected and
// skipped. A task or sweep that fails skips only its key or itself: one
// key whose work cannot be done (its HSM refuses new material) must not
// hold back the deletions and rotations of the keys after it; the pass
// returns the first such error, with how many there were, once it has
// walked every key. A proposal that fails ends the pass (the node lost
// the lead, or the log cannot take writes), to be retried on the next.
func (r *Runner) Pass(ctx context.Context) (applied int, err error) {
	now := r.cfg.Now()
	var failed int
	var first error
	fail := func(what string, err error) {
		failed++
		if first == nil {
			first = fmt.Errorf("%s: %w", what, err)
		}
		r.cfg.Logger.Debug("lifecycle task failed; skipped this pass", "what", what, "err", err)
	}
	after := ""
	for {
		keys, more := r.cfg.Keys.ScanKeys(after, pageSize)
		for _, k := range keys {
			for _, task := range r.cfg.Tasks {
				cmd, err := task(ctx, k, now)
				if err != nil {
					if ctx.Err() != nil {
						return applied, ctx.Err()
					}
					fail("key "+k.ID, err)
					continue
				}
				if cmd == nil {
					continue
				}
				ok, err := r.propose(ctx, cmd, k.ID)
				if err != nil {
					return applied, err
				}
				if ok {
					applied++
				}
			}
		}
		if !more || len(keys) == 0 {
			break
		}
		after = keys[len(keys)-1].ID
	}
	for i, sweep := range r.cfg.Sweeps {
		cmd, err := sweep(ctx, now)
		if err != nil {
			if ctx.Err() != nil {
				return applied, ctx.Err()
			}
			fail(fmt.Sprintf("sweep %d", i), err)
			continue
		}
		if cmd == nil {
			continue
		}
		ok, err := r.propose(ctx, cmd, "")
		if err != nil {
			return applied, err
		}
		if ok {
			applied++
		}
	}
	if failed > 0 {
		return applied, fmt.Errorf("lifecycle: %d of the pass's tasks failed, the first %w", failed, first)
	}
	return applied, nil
}

// propose commits cmd (about key, if any) and reports whether the state
// machine accepted it; a refusal is expected (the state changed since the
// pass read it) and is not an error.
func (r *Runner) propose(ctx context.Context, cmd fsm.Command, key string) (bool, error) {
	if err := failpoint.Hit("lifecycle-propose"); err != nil {
		return false, err
	}
	res, idx, err := fsm.Apply(ctx, r.cfg.Log, cmd)
	if err == nil {
		// Committed and applied; its follow-up (Applied) not run.
		_ = failpoint.Hit("lifecycle-applied")
	}
	var rej *fsm.Rejection
	switch {
	case errors.As(err, &rej):
		r.cfg.Logger.Debug("lifecycle: refused at apply", "op", cmd.Op(), "key", key, "reason", rej.Type)
		return false, nil
	case err != nil:
		return false, err
	}
	if r.cfg.Applied != nil {
		r.cfg.Applied(ctx, cmd, res, idx)
	}
	return true, nil
}

// Certs is the read side of [PruneExpiredCerts].
type Certs interface {
	// CertsToPrune reports how many certificate records a PruneCerts
	// with cutoff before (Unix milliseconds) would remove.
	CertsToPrune(before int64) int
}

// PruneExpiredCerts is the sweep that forgets the records of
// certificates that expired more than fsm.CertPruneGrace ago
// (fsm.PruneCerts): it proposes only when some are due, so an idle
// cluster's log does not grow by a command a pass.
func PruneExpiredCerts(c Certs) Sweep {
	return func(_ context.Context, now time.Time) (fsm.Command, error) {
		before := now.Add(-fsm.CertPruneGrace).UnixMilli()
		if c.CertsToPrune(before) == 0 {
			return nil, nil
		}
		return &fsm.PruneCerts{Before: before}, nil
	}
}
