package workload

import (
	"context"
	"sync"
)

// Mixed runs the grants and the key-state workloads side by side, each
// on its own keys (a key-state worker disables keys, which a grant check
// must not see), half the workers each: the soak's workload. Both record
// into the one history; the checkers partition it by key.
type Mixed struct {
	grants Grants
	state  KeyState

	once sync.Once
	sub  *Env // the key-state half's keys and ciphertexts
}

// Name implements Workload.
func (m *Mixed) Name() string { return "mixed" }

// half is the key-state half's Env: e's history and clients, its own keys.
func (m *Mixed) half(e *Env) *Env {
	m.once.Do(func() {
		m.sub = &Env{Rec: e.Rec, NodeIDs: e.NodeIDs, Admin: e.Admin, Grantee: e.Grantee, GranteeARN: e.GranteeARN, Concurrency: e.Concurrency}
	})
	return m.sub
}

// Setup implements Workload.
func (m *Mixed) Setup(ctx context.Context, e *Env) error {
	if err := m.grants.Setup(ctx, e); err != nil {
		return err
	}
	return m.state.Setup(ctx, m.half(e))
}

// Step implements Workload: even workers run grants, odd ones key states.
func (m *Mixed) Step(ctx context.Context, e *Env, w *Worker) {
	if w.ID%2 == 0 {
		m.grants.Step(ctx, e, w)
		return
	}
	m.state.Step(ctx, m.half(e), w)
}

// Final implements Workload: the key-state half enables its keys and
// reads them back from every node here (the runner reads e's).
func (m *Mixed) Final(ctx context.Context, e *Env, w *Worker) {
	m.grants.Final(ctx, e, w)
	sub := m.half(e)
	m.state.Final(ctx, sub, w)
	sub.FinalReads(ctx, w)
}
