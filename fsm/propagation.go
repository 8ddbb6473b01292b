package fsm

import (
	"errors"
	"slices"

	"github.com/trentkms/trent/wire"
)

// MaxPropagationMillis caps the simulated propagation delay and its
// jitter: an hour, far beyond any staleness bound a node would promise.
const MaxPropagationMillis = 3_600_000

// Propagation is the cluster-wide simulated propagation delay
// (docs/eventual-consistency.md): every node serves bounded reads from a
// view of the state at least DelayMillis (plus its own draw from
// JitterMillis) old, never older than its staleness bound. It overrides
// the nodes' --simulated-propagation flags, so all nodes agree.
type Propagation struct {
	// DelayMillis is the delay; zero turns the mode off cluster-wide.
	DelayMillis int64 `json:"delay_ms"`
	// JitterMillis spreads the nodes: each draws its delay from
	// [DelayMillis, DelayMillis+JitterMillis].
	JitterMillis int64 `json:"jitter_ms,omitempty"`
	// Accounts, when set, aims the mode: only callers of these accounts
	// read the delayed view; everyone else reads the current state.
	Accounts []string `json:"accounts,omitempty"`
	// SetAt is when the proposer set it (Unix milliseconds), SetBy who.
	SetAt int64  `json:"set_at"`
	SetBy string `json:"set_by,omitempty"`
}

// SetPropagation sets, or with Clear removes, the cluster-wide simulated
// propagation delay. The log decides between concurrent settings: a
// proposal taken earlier (SetAt) than the one in force changes nothing.
type SetPropagation struct {
	Propagation Propagation `json:"propagation"`
	// Clear removes the cluster-wide setting: each node goes back to its
	// own --simulated-propagation flag.
	Clear bool `json:"clear,omitempty"`
}

func (*SetPropagation) Op() Op { return OpSetPropagation }

func (c *SetPropagation) validate() error {
	p := c.Propagation
	if p.DelayMillis < 0 || p.DelayMillis > MaxPropagationMillis || p.JitterMillis < 0 || p.JitterMillis > MaxPropagationMillis {
		return errors.New("propagation delay or jitter out of range")
	}
	return nil
}

func (c *SetPropagation) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if cs.info == nil {
		return &Result{Err: reject(wire.KMSInvalidState, "the cluster is not initialized")}
	}
	if cur := cs.info.Propagation; cur != nil && c.Propagation.SetAt < cur.SetAt {
		return &Result{} // an older proposal: the newer setting stands
	}
	info := *cs.info
	if c.Clear {
		info.Propagation = nil
	} else {
		p := c.Propagation
		p.Accounts = slices.Clone(p.Accounts)
		info.Propagation = &p
	}
	cs.info = &info
	return &Result{}
}

// Propagation returns the cluster-wide simulated propagation setting, and
// false when there is none (each node follows its own flag).
func (f *FSM) Propagation() (Propagation, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cluster.info == nil || f.cluster.info.Propagation == nil {
		return Propagation{}, false
	}
	return *f.cluster.info.Propagation, true
}
