package workload

import (
	"context"
	"fmt"
	"sync"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

// Grants creates grants with a Name (retrying indeterminate creates with
// the same Name, which must leave one grant), revokes them, uses them as
// the grantee with the grant token (linearizable) and without (a bounded
// read of the grant state), lists them, and encrypts for durability.
type Grants struct {
	mu     sync.Mutex
	grants []*grant // acknowledged creates
}

type grant struct {
	key, name, id, token string
	revoking             bool
}

// liveLimit caps the unrevoked grants of a key so that a listing fits on
// one page and the model's state stays small.
const liveLimit = 12

// Name implements Workload.
func (g *Grants) Name() string { return "grants" }

// Setup implements Workload.
func (g *Grants) Setup(ctx context.Context, e *Env) error { return e.setupKeys(ctx, 5) }

// Step implements Workload.
func (g *Grants) Step(ctx context.Context, e *Env, w *Worker) {
	node := w.node(len(e.Admin))
	key := e.randomKey(w)
	if w.Reader {
		switch x := w.Rng.IntN(100); {
		case x < 20:
			g.use(ctx, e, w, node, key, true)
		case x < 60:
			g.use(ctx, e, w, node, key, false)
		case x < 70:
			g.list(ctx, e, w, node, key, history.ModeLinearizable)
		default:
			g.list(ctx, e, w, node, key, history.ModeBounded)
		}
		return
	}
	switch x := w.Rng.IntN(100); {
	case x < 20:
		if g.live(key) >= liveLimit {
			g.revoke(ctx, e, w, node, key)
			return
		}
		g.create(ctx, e, w, node, key)
	case x < 35:
		g.revoke(ctx, e, w, node, key)
	case x < 55:
		g.use(ctx, e, w, node, key, true)
	case x < 75:
		g.use(ctx, e, w, node, key, false)
	case x < 85:
		g.list(ctx, e, w, node, key, history.ModeLinearizable)
	case x < 93:
		g.list(ctx, e, w, node, key, history.ModeBounded)
	default:
		e.encrypt(ctx, w, node, key)
	}
}

// Final implements Workload: grants need no restoring.
func (g *Grants) Final(context.Context, *Env, *Worker) {}

func (g *Grants) live(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, gr := range g.grants {
		if gr.key == key && !gr.revoking {
			n++
		}
	}
	return n
}

// pick returns a random acknowledged grant of key; with unrevoked, one
// not yet being revoked, which it marks as being revoked.
func (g *Grants) pick(w *Worker, key string, revoke bool) *grant {
	g.mu.Lock()
	defer g.mu.Unlock()
	var c []*grant
	for _, gr := range g.grants {
		if gr.key == key && !(revoke && gr.revoking) {
			c = append(c, gr)
		}
	}
	if len(c) == 0 {
		return nil
	}
	gr := c[w.Rng.IntN(len(c))]
	if revoke {
		gr.revoking = true
	}
	return gr
}

// create makes a named grant, retrying an indeterminate outcome with the
// same Name and properties up to four times.
func (g *Grants) create(ctx context.Context, e *Env, w *Worker, node int, key string) {
	name := fmt.Sprintf("w%d-%d", w.ID, w.next())
	for attempt := 0; attempt < 4 && ctx.Err() == nil; attempt++ {
		var token string
		op := e.do(ctx, w, node, checker.FCreateGrant, key, name, history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
			r, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].CreateGrant, &kmsv1.CreateGrantRequest{
				KeyId: key, GranteePrincipal: e.GranteeARN, Operations: []string{"Encrypt", "Decrypt"}, Name: name})
			if err != nil {
				return "", m, err
			}
			token = r.GetGrantToken()
			return r.GetGrantId(), m, nil
		})
		switch op.Type {
		case history.Ok:
			g.mu.Lock()
			g.grants = append(g.grants, &grant{key: key, name: name, id: op.Result, token: token})
			g.mu.Unlock()
			return
		case history.Fail:
			return
		}
		node = (node + 1) % len(e.Admin)
	}
}

func (g *Grants) revoke(ctx context.Context, e *Env, w *Worker, node int, key string) {
	gr := g.pick(w, key, true)
	if gr == nil {
		return
	}
	op := e.do(ctx, w, node, checker.FRevokeGrant, key, gr.name, history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].RevokeGrant, &kmsv1.RevokeGrantRequest{KeyId: key, GrantId: gr.id})
		if client.ErrorType(err) == wire.NotFound {
			return checker.ResultNotFound, m, nil
		}
		if err != nil {
			return "", m, err
		}
		return checker.ResultFound, m, nil
	})
	if op.Type == history.Fail || op.Type == history.Ok && op.Result == checker.ResultNotFound {
		// The grant is still there (a NotFound is itself an anomaly the
		// linearizability checker reports): it may be revoked again.
		g.mu.Lock()
		gr.revoking = false
		g.mu.Unlock()
	}
}

// use encrypts as the grantee: with a token it asks whether that grant
// exists (linearizable); without, whether any grant lets the grantee
// encrypt under the key, as a bounded read.
func (g *Grants) use(ctx context.Context, e *Env, w *Worker, node int, key string, withToken bool) {
	f, mode, value := checker.FUseNoToken, history.ModeBounded, ""
	var tokens []string
	if withToken {
		gr := g.pick(w, key, false)
		if gr == nil {
			return
		}
		f, mode, value, tokens = checker.FUseToken, history.ModeToken, gr.name, []string{gr.token}
	}
	e.do(ctx, w, node, f, key, value, mode, false, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, mode, e.Grantee[node].Encrypt, &kmsv1.EncryptRequest{KeyId: key, Plaintext: []byte("x"), GrantTokens: tokens})
		switch client.ErrorType(err) {
		case "":
			if err == nil {
				return checker.ResultTrue, m, nil
			}
		case wire.AccessDenied, wire.InvalidGrantToken:
			return checker.ResultFalse, m, nil
		}
		return "", m, err
	})
}

func (g *Grants) list(ctx context.Context, e *Env, w *Worker, node int, key, mode string) {
	e.do(ctx, w, node, checker.FListGrants, key, "", mode, false, func(ctx context.Context) (string, client.Meta, error) {
		return e.listGrants(ctx, node, key, mode, false)
	})
}
