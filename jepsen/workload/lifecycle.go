package workload

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

// Lifecycle rotates keys and deletes keys while encrypting under them.
// Its kept keys have automatic rotation on (the nodes run with a short
// lifecycle day, so periods pass during the test) and are rotated on
// demand; every acknowledged Encrypt under them must decrypt during the
// test and at the end. Its doomed keys are created, encrypted under,
// described, scheduled for deletion (and now and then cancelled) and
// decrypted until the leader deletes them; once any read has seen a
// doomed key gone, no later read on any node may see it again or decrypt
// under it (checker.Lifecycle).
type Lifecycle struct {
	mu     sync.Mutex
	doomed []string        // doomed keys whose creation was acknowledged
	gone   map[string]bool // doomed keys a describe saw deleted
	cts    []sealed        // acknowledged Encrypts under doomed keys
}

// DoomedWindowDays is the waiting period of the doomed keys' deletions.
const DoomedWindowDays = 7

// DayForLifecycle is the node flag value the workload needs: a day of
// deletion windows and rotation periods lasts this long, so a seven-day
// window ends in 350ms and a 90-day rotation period in 4.5s.
const DayForLifecycle = 50 * time.Millisecond

// doomedLimit caps the doomed keys alive at once, and doomedTotal all
// the doomed keys of a test (deleted ones stay under test).
const (
	doomedLimit = 8
	doomedTotal = 48
)

// Name implements Workload.
func (l *Lifecycle) Name() string { return "lifecycle" }

// Setup implements Workload: three kept keys with automatic rotation at
// the shortest period, and three doomed keys.
func (l *Lifecycle) Setup(ctx context.Context, e *Env) error {
	if err := e.setupKeys(ctx, 3); err != nil {
		return err
	}
	w := NewWorker(0, 1)
	for i, key := range e.Keys() {
		period := int32(90)
		op := retry(ctx, 30*time.Second, len(e.Admin), i, func(node int) history.Op {
			return e.do(ctx, w, node, checker.FEnableRotation, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
				_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].EnableKeyRotation,
					&kmsv1.EnableKeyRotationRequest{KeyId: key, RotationPeriodInDays: &period})
				return "", m, err
			})
		})
		if op.Type != history.Ok {
			return fmt.Errorf("setup: EnableKeyRotation keeps failing: %s", op.Err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.live() < 3 {
		if op := l.create(ctx, e, w, w.Rng.IntN(len(e.Admin))); op.Type != history.Ok && (ctx.Err() != nil || time.Now().After(deadline)) {
			return fmt.Errorf("setup: CreateKey of a doomed key keeps failing: %s", op.Err)
		}
	}
	return nil
}

// Step implements Workload.
func (l *Lifecycle) Step(ctx context.Context, e *Env, w *Worker) {
	node := w.node(len(e.Admin))
	mode := history.ModeBounded
	if w.Rng.IntN(100) < 40 {
		mode = history.ModeLinearizable
	}
	if w.Reader {
		switch x := w.Rng.IntN(100); {
		case x < 40:
			l.decryptKept(ctx, e, w, node, mode)
		case x < 70:
			l.describe(ctx, e, w, node, l.randomDoomed(w), mode, checker.FDescribeDoomed)
		default:
			l.decryptDoomed(ctx, e, w, node, mode)
		}
		return
	}
	switch x := w.Rng.IntN(100); {
	case x < 20:
		e.encrypt(ctx, w, node, e.randomKey(w))
	case x < 28:
		l.rotate(ctx, e, w, node, e.randomKey(w))
	case x < 43:
		l.encryptDoomed(ctx, e, w, node, l.randomDoomed(w))
	case x < 53:
		l.schedule(ctx, e, w, node, l.randomDoomed(w))
	case x < 56:
		l.cancel(ctx, e, w, node, l.randomDoomed(w))
	case x < 62:
		if l.live() < doomedLimit && l.total() < doomedTotal {
			l.create(ctx, e, w, node)
		}
	case x < 70:
		l.decryptKept(ctx, e, w, node, mode)
	case x < 85:
		l.decryptDoomed(ctx, e, w, node, mode)
	default:
		l.describe(ctx, e, w, node, l.randomDoomed(w), mode, checker.FDescribeDoomed)
	}
}

// Final implements Workload: it waits until every doomed key pending
// deletion is gone (no cancel races it any more), so that the final
// reads of every node see one state, then reads every doomed key and
// decrypts every doomed ciphertext on every node.
func (l *Lifecycle) Final(ctx context.Context, e *Env, w *Worker) {
	l.mu.Lock()
	doomed := append([]string(nil), l.doomed...)
	cts := append([]sealed(nil), l.cts...)
	l.mu.Unlock()
	for _, key := range doomed {
		deadline := time.Now().Add(20 * time.Second)
		for try := 0; time.Now().Before(deadline) && ctx.Err() == nil; try++ {
			// Any node will do (a linearizable read), and one that is
			// down must not hold every key for the whole deadline.
			res, _, err := l.state(ctx, e, try%len(e.Admin), key, history.ModeLinearizable)
			if err == nil && res != "PendingDeletion" {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, key := range doomed {
		for node := range e.Admin {
			e.finalRead(ctx, node, func() history.Op {
				return l.describe(ctx, e, w, node, key, history.ModeFinal, checker.FFinalDescribeDoomed)
			})
		}
	}
	for _, s := range cts {
		for node := range e.Admin {
			decrypt(ctx, e, w, node, s, history.ModeFinal, checker.FFinalDecryptDoomed)
		}
	}
}

// live counts the doomed keys not seen deleted yet.
func (l *Lifecycle) live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.doomed) - len(l.gone)
}

func (l *Lifecycle) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.doomed)
}

func (l *Lifecycle) randomDoomed(w *Worker) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doomed[w.Rng.IntN(len(l.doomed))]
}

func (l *Lifecycle) create(ctx context.Context, e *Env, w *Worker, node int) history.Op {
	return e.create(ctx, w, node, checker.FCreateDoomed, "doomed", &l.mu, &l.doomed)
}

func (l *Lifecycle) rotate(ctx context.Context, e *Env, w *Worker, node int, key string) {
	e.do(ctx, w, node, checker.FRotate, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].RotateKeyOnDemand, &kmsv1.RotateKeyOnDemandRequest{KeyId: key})
		return "", m, err
	})
}

func (l *Lifecycle) schedule(ctx context.Context, e *Env, w *Worker, node int, key string) {
	window := int32(DoomedWindowDays)
	e.do(ctx, w, node, checker.FScheduleDeletion, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].ScheduleKeyDeletion,
			&kmsv1.ScheduleKeyDeletionRequest{KeyId: key, PendingWindowInDays: &window})
		return "", m, err
	})
}

func (l *Lifecycle) cancel(ctx context.Context, e *Env, w *Worker, node int, key string) {
	e.do(ctx, w, node, checker.FCancelDeletion, key, "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		_, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].CancelKeyDeletion, &kmsv1.CancelKeyDeletionRequest{KeyId: key})
		return "", m, err
	})
}

func (l *Lifecycle) encryptDoomed(ctx context.Context, e *Env, w *Worker, node int, key string) {
	if s, ok := e.seal(ctx, w, node, key, checker.FEncryptDoomed, history.ModeBounded, false); ok {
		l.mu.Lock()
		l.cts = append(l.cts, s)
		l.mu.Unlock()
	}
}

// decryptKept decrypts a ciphertext made under a kept key: rotation must
// never make it undecryptable.
func (l *Lifecycle) decryptKept(ctx context.Context, e *Env, w *Worker, node int, mode string) {
	decryptAny(ctx, e, w, node, &e.mu, &e.cts, mode, checker.FDecryptKept)
}

func (l *Lifecycle) decryptDoomed(ctx context.Context, e *Env, w *Worker, node int, mode string) {
	decryptAny(ctx, e, w, node, &l.mu, &l.cts, mode, checker.FDecryptDoomed)
}

// decryptAny decrypts one of *cts, picked at random under mu.
func decryptAny(ctx context.Context, e *Env, w *Worker, node int, mu *sync.Mutex, cts *[]sealed, mode, f string) {
	mu.Lock()
	if len(*cts) == 0 {
		mu.Unlock()
		return
	}
	s := (*cts)[w.Rng.IntN(len(*cts))]
	mu.Unlock()
	decrypt(ctx, e, w, node, s, mode, f)
}

// decrypt records the plaintext as the result, or fails with the error.
func decrypt(ctx context.Context, e *Env, w *Worker, node int, s sealed, mode, f string) history.Op {
	return e.do(ctx, w, node, f, s.key, s.tag, mode, false, func(ctx context.Context) (string, client.Meta, error) {
		blob, err := base64.StdEncoding.DecodeString(s.ct)
		if err != nil {
			return "", client.Meta{}, err
		}
		r, m, err := client.Call(ctx, mode, e.Admin[node].Decrypt, &kmsv1.DecryptRequest{CiphertextBlob: blob})
		if err != nil {
			return "", m, err
		}
		return string(r.GetPlaintext()), m, nil
	})
}

// describe records a doomed key's state, or checker.ResultGone when the
// node answers NotFoundException.
func (l *Lifecycle) describe(ctx context.Context, e *Env, w *Worker, node int, key, mode, f string) history.Op {
	return e.do(ctx, w, node, f, key, "", mode, false, func(ctx context.Context) (string, client.Meta, error) {
		return l.state(ctx, e, node, key, mode)
	})
}

func (l *Lifecycle) state(ctx context.Context, e *Env, node int, key, mode string) (string, client.Meta, error) {
	r, m, err := client.Call(ctx, mode, e.Admin[node].DescribeKey, &kmsv1.DescribeKeyRequest{KeyId: key})
	if client.ErrorType(err) == wire.NotFound {
		l.mu.Lock()
		if l.gone == nil {
			l.gone = map[string]bool{}
		}
		l.gone[key] = true
		l.mu.Unlock()
		return checker.ResultGone, m, nil
	}
	if err != nil {
		return "", m, err
	}
	return r.GetKeyMetadata().GetKeyState(), m, nil
}
