package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
)

// KeyState enables and disables keys, sets their descriptions to unique
// values (a register whose stale reads are easy to see), and describes
// them, linearizably and as bounded reads; it also creates keys, encrypts
// for durability, and rotates keys on demand between the encrypts, so the
// final decrypts check that no rotation loses a ciphertext.
type KeyState struct{}

// Name implements Workload.
func (k *KeyState) Name() string { return "keystate" }

// Setup implements Workload.
func (k *KeyState) Setup(ctx context.Context, e *Env) error { return e.setupKeys(ctx, 5) }

// Step implements Workload.
func (k *KeyState) Step(ctx context.Context, e *Env, w *Worker) {
	node := w.node(len(e.Admin))
	key := e.randomKey(w)
	if w.Reader {
		mode := history.ModeBounded
		if w.Rng.IntN(100) < 20 {
			mode = history.ModeLinearizable
		}
		k.describe(ctx, e, w, node, key, mode)
		return
	}
	switch x := w.Rng.IntN(100); {
	case x < 12:
		k.set(ctx, e, w, node, key, true)
	case x < 24:
		k.set(ctx, e, w, node, key, false)
	case x < 40:
		k.setDescription(ctx, e, w, node, key)
	case x < 65:
		k.describe(ctx, e, w, node, key, history.ModeLinearizable)
	case x < 90:
		k.describe(ctx, e, w, node, key, history.ModeBounded)
	case x < 96:
		e.encrypt(ctx, w, node, key)
	case x < 98:
		k.rotate(ctx, e, w, node, key)
	default:
		e.createKey(ctx, w, node)
	}
}

// Final implements Workload: it enables every key, so that every
// acknowledged ciphertext can be decrypted. A DisableKey whose caller gave
// up when the chaos ended (an unknown outcome) may still apply after the
// EnableKey, so Final reads each key back linearizably and enables it
// again until it reads enabled.
func (k *KeyState) Final(ctx context.Context, e *Env, w *Worker) {
	for _, key := range e.Keys() {
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; ; i++ {
			retry(ctx, time.Until(deadline), len(e.Admin), i, func(node int) history.Op {
				return k.set(ctx, e, w, node, key, true)
			})
			d := k.describe(ctx, e, w, i%len(e.Admin), key, history.ModeLinearizable)
			if d.Type == history.Ok && strings.HasPrefix(d.Result, checker.ResultEnabled+":") ||
				time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
		}
	}
}

func (k *KeyState) set(ctx context.Context, e *Env, w *Worker, node int, key string, enable bool) history.Op {
	f, call := checker.FDisable, e.Admin[node].DisableKey
	if enable {
		f = checker.FEnable
	}
	return e.do(ctx, w, node, f, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		var m client.Meta
		var err error
		if enable {
			_, m, err = client.Call(ctx, history.ModeWrite, e.Admin[node].EnableKey, &kmsv1.EnableKeyRequest{KeyId: key})
		} else {
			_, m, err = client.Call(ctx, history.ModeWrite, call, &kmsv1.DisableKeyRequest{KeyId: key})
		}
		return "", m, err
	})
}

// rotate adds key material; a disabled key, or one past AWS's 25
// on-demand rotations, refuses (a definite failure).
func (k *KeyState) rotate(ctx context.Context, e *Env, w *Worker, node int, key string) {
	e.do(ctx, w, node, checker.FRotate, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].RotateKeyOnDemand, &kmsv1.RotateKeyOnDemandRequest{KeyId: key})
		return "", m, err
	})
}

func (k *KeyState) describe(ctx context.Context, e *Env, w *Worker, node int, key, mode string) history.Op {
	return e.do(ctx, w, node, checker.FDescribe, key, "", mode, false, func(ctx context.Context) (string, client.Meta, error) {
		return e.describe(ctx, node, key, mode)
	})
}

func (k *KeyState) setDescription(ctx context.Context, e *Env, w *Worker, node int, key string) {
	desc := fmt.Sprintf("w%d-%d", w.ID, w.next())
	e.do(ctx, w, node, checker.FSetDesc, key, desc, history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].UpdateKeyDescription, &kmsv1.UpdateKeyDescriptionRequest{KeyId: key, Description: desc})
		return "", m, err
	})
}
