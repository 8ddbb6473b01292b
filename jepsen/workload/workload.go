// Package workload generates the operations of a test and records them:
// the grants workload (create, revoke, use as the grantee with and without
// a grant token, list), the key-state workload (enable, disable, describe),
// the lifecycle workload (rotation, deletion) and, in each, the
// durability operations (CreateKey, Encrypt) and the final phase that
// reads everything back from every node.
package workload

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
)

// Env is what a workload needs: the history and a client per node for the
// admin and for the grantee.
type Env struct {
	Rec        *history.Recorder
	NodeIDs    []string
	Admin      []client.KMS
	Grantee    []client.KMS
	GranteeARN string
	// Concurrency is the number of workers; a worker's process id moves
	// on by it after an indeterminate operation, as in Jepsen.
	Concurrency int
	// FinalWindow is how long a final read is retried on a node (10s if
	// zero).
	FinalWindow time.Duration

	mu      sync.Mutex
	stuck   map[int]bool // nodes that failed a final read for a whole window
	keys    []string     // keys the workload operates on
	created []string     // keys made by acknowledged CreateKeys
	cts     []sealed     // acknowledged Encrypts
}

type sealed struct{ key, tag, ct string }

// Worker is one client: one outstanding operation at a time.
type Worker struct {
	ID      int
	Process int
	Rng     *rand.Rand
	// Reader, if set, makes the worker a reader pinned to node Pin: it
	// only reads, mostly bounded reads, so that a node cut off from its
	// peers keeps being asked (writers stall on it for their timeout).
	Reader bool
	Pin    int
	seq    int
}

// NewWorker returns worker id with its own seeded random stream.
func NewWorker(id int, seed uint64) *Worker {
	return &Worker{ID: id, Process: id, Rng: rand.New(rand.NewPCG(seed, uint64(id)+1))}
}

// NewReader returns a reader worker pinned to node pin.
func NewReader(id int, seed uint64, pin int) *Worker {
	w := NewWorker(id, seed)
	w.Reader, w.Pin = true, pin
	return w
}

// node picks the node for w's next operation.
func (w *Worker) node(nodes int) int {
	if w.Reader {
		return w.Pin % nodes
	}
	return w.Rng.IntN(nodes)
}

func (w *Worker) next() int { w.seq++; return w.seq }

// Workload is a test workload.
type Workload interface {
	Name() string
	// Setup creates the keys the workload uses.
	Setup(ctx context.Context, e *Env) error
	// Step runs one operation of worker w.
	Step(ctx context.Context, e *Env, w *Worker)
	// Final restores what the workload changed that would hide data (e.g.
	// enables disabled keys); the final reads follow.
	Final(ctx context.Context, e *Env, w *Worker)
}

// New returns the named workload.
func New(name string) (Workload, error) {
	switch name {
	case "grants":
		return &Grants{}, nil
	case "keystate":
		return &KeyState{}, nil
	case "lifecycle":
		return &Lifecycle{}, nil
	case "mixed": // the soak's; not in the matrices
		return &Mixed{}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (want grants, keystate or lifecycle)", name)
}

// Names lists the workloads.
func Names() []string { return []string{"grants", "keystate", "lifecycle"} }

// Keys returns the keys under test.
func (e *Env) Keys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.keys...)
}

func (e *Env) randomKey(w *Worker) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys[w.Rng.IntN(len(e.keys))]
}

// do runs one operation against node and records it. call returns the
// operation's result. write says whether it changes state.
func (e *Env) do(ctx context.Context, w *Worker, node int, f, key, value, mode string, write bool,
	call func(ctx context.Context) (string, client.Meta, error)) history.Op {
	op := history.Op{Process: w.Process, F: f, Key: key, Value: value, Mode: mode, Node: e.NodeIDs[node]}
	cctx, cancel := context.WithTimeout(ctx, client.Timeout)
	op.Call = e.Rec.Now()
	res, meta, err := call(cctx)
	op.Return = e.Rec.Now()
	cancel()
	meta.Fill(&op)
	op.Type = client.Outcome(err, write)
	op.Err = client.Short(err)
	if err == nil {
		op.Result = res
	}
	if ctx.Err() != nil && err != nil {
		// The test is ending, not the node failing: a write stays
		// indeterminate, a read is dropped.
		if !write {
			return op
		}
	}
	op = e.Rec.Add(op)
	if op.Type == history.Info {
		w.Process += e.Concurrency
	}
	return op
}

// createKey creates a key and remembers it if asked.
func (e *Env) createKey(ctx context.Context, w *Worker, node int) history.Op {
	return e.create(ctx, w, node, checker.FCreateKey, checker.InitialDescription, &e.mu, &e.created)
}

// create records a CreateKey as f and appends an acknowledged key's id to
// *into, under mu.
func (e *Env) create(ctx context.Context, w *Worker, node int, f, desc string, mu *sync.Mutex, into *[]string) history.Op {
	op := e.do(ctx, w, node, f, "", "", history.ModeWrite, true, func(ctx context.Context) (string, client.Meta, error) {
		r, m, err := client.Call(ctx, history.ModeWrite, e.Admin[node].CreateKey, &kmsv1.CreateKeyRequest{Description: desc})
		if err != nil {
			return "", m, err
		}
		return r.GetKeyMetadata().GetKeyId(), m, nil
	})
	if op.Type == history.Ok {
		mu.Lock()
		*into = append(*into, op.Result)
		mu.Unlock()
	}
	return op
}

// setupKeys creates n keys, retrying through any node.
func (e *Env) setupKeys(ctx context.Context, n int) error {
	w := NewWorker(0, 0)
	for len(e.Keys()) < n {
		deadline := time.Now().Add(30 * time.Second)
		for {
			op := e.createKey(ctx, w, w.Rng.IntN(len(e.Admin)))
			if op.Type == history.Ok {
				e.mu.Lock()
				e.keys = append(e.keys, op.Result)
				e.mu.Unlock()
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("setup: CreateKey keeps failing: %s", op.Err)
			}
		}
	}
	return nil
}

// encrypt is the durability operation: an Encrypt of a unique plaintext
// whose ciphertext must decrypt at the end if it was acknowledged.
func (e *Env) encrypt(ctx context.Context, w *Worker, node int, key string) {
	if s, ok := e.seal(ctx, w, node, key, checker.FEncrypt, history.ModeWrite, true); ok {
		e.mu.Lock()
		e.cts = append(e.cts, s)
		e.mu.Unlock()
	}
}

// seal records an Encrypt of a unique plaintext as f and returns its
// ciphertext if it was acknowledged.
func (e *Env) seal(ctx context.Context, w *Worker, node int, key, f, mode string, write bool) (sealed, bool) {
	tag := fmt.Sprintf("w%d-%d", w.ID, w.next())
	op := e.do(ctx, w, node, f, key, tag, mode, write, func(ctx context.Context) (string, client.Meta, error) {
		r, m, err := client.Call(ctx, mode, e.Admin[node].Encrypt, &kmsv1.EncryptRequest{KeyId: key, Plaintext: []byte(tag)})
		if err != nil {
			return "", m, err
		}
		return base64.StdEncoding.EncodeToString(r.GetCiphertextBlob()), m, nil
	})
	return sealed{key, tag, op.Result}, op.Type == history.Ok
}

// finalRead runs a final read op on node, retrying it for FinalWindow
// (10s if zero), or once if the node already failed a final read for a
// whole window (see FinalReads).
func (e *Env) finalRead(ctx context.Context, node int, op func() history.Op) history.Op {
	window := e.FinalWindow
	if window == 0 {
		window = 10 * time.Second
	}
	e.mu.Lock()
	if e.stuck[node] {
		window = 0
	}
	e.mu.Unlock()
	res := retry(ctx, window, 1, 0, func(int) history.Op { return op() })
	if res.Type != history.Ok && ctx.Err() == nil {
		e.mu.Lock()
		if e.stuck == nil {
			e.stuck = map[int]bool{}
		}
		e.stuck[node] = true
		e.mu.Unlock()
	}
	return res
}

// retry runs op on node after node until it is ok or d passes.
func retry(ctx context.Context, d time.Duration, nodes int, start int, op func(node int) history.Op) history.Op {
	deadline := time.Now().Add(d)
	var last history.Op
	for i := 0; ; i++ {
		last = op((start + i) % nodes)
		if last.Type == history.Ok || time.Now().After(deadline) || ctx.Err() != nil {
			return last
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FinalReads reads every key's state and grants from every node with
// linearizable reads, and decrypts every acknowledged ciphertext.
//
// A node gets FinalWindow of retries per read until one read of it fails
// for all of them; from then on it gets one attempt per read, so a node
// stuck for good costs the phase seconds, not minutes (its reads fail
// and convergence is unknown either way).
func (e *Env) FinalReads(ctx context.Context, w *Worker) {
	e.mu.Lock()
	keys := append(append([]string(nil), e.keys...), e.created...)
	cts := append([]sealed(nil), e.cts...)
	e.mu.Unlock()
	sort.Strings(keys)
	for i := range keys {
		if i > 0 && keys[i] == keys[i-1] {
			continue
		}
		key := keys[i]
		for node := range e.Admin {
			e.finalRead(ctx, node, func() history.Op {
				return e.do(ctx, w, node, checker.FFinalDescribe, key, "", history.ModeFinal, false, func(ctx context.Context) (string, client.Meta, error) {
					return e.describe(ctx, node, key, history.ModeFinal)
				})
			})
			e.finalRead(ctx, node, func() history.Op {
				return e.do(ctx, w, node, checker.FFinalListGrants, key, "", history.ModeFinal, false, func(ctx context.Context) (string, client.Meta, error) {
					return e.listGrants(ctx, node, key, history.ModeFinal, true)
				})
			})
		}
	}
	for i, s := range cts {
		retry(ctx, 10*time.Second, len(e.Admin), i, func(node int) history.Op {
			return e.do(ctx, w, node, checker.FFinalDecrypt, s.key, s.tag, history.ModeFinal, false, func(ctx context.Context) (string, client.Meta, error) {
				blob, err := base64.StdEncoding.DecodeString(s.ct)
				if err != nil {
					return "", client.Meta{}, err
				}
				r, m, err := client.Call(ctx, history.ModeFinal, e.Admin[node].Decrypt, &kmsv1.DecryptRequest{CiphertextBlob: blob})
				if err != nil {
					return "", m, err
				}
				return string(r.GetPlaintext()), m, nil
			})
		})
	}
}

func (e *Env) describe(ctx context.Context, node int, key, mode string) (string, client.Meta, error) {
	r, m, err := client.Call(ctx, mode, e.Admin[node].DescribeKey, &kmsv1.DescribeKeyRequest{KeyId: key})
	if err != nil {
		return "", m, err
	}
	md := r.GetKeyMetadata()
	return checker.DescribeResult(md.GetEnabled(), md.GetDescription()), m, nil
}

// errTruncated marks a listing that needed more than one page: it is not
// one atomic read.
var errTruncated = fmt.Errorf("the grant list needs more than one page")

// listGrants lists a key's grant names. With all, it follows the pages
// (the final phase is quiet); else a truncated list is an error.
func (e *Env) listGrants(ctx context.Context, node int, key, mode string, all bool) (string, client.Meta, error) {
	var names []string
	var first client.Meta
	marker := ""
	for page := 0; ; page++ {
		limit := int32(100)
		r, m, err := client.Call(ctx, mode, e.Admin[node].ListGrants, &kmsv1.ListGrantsRequest{KeyId: key, Limit: &limit, Marker: marker})
		if err != nil {
			return "", m, err
		}
		if page == 0 {
			first = m
		}
		for _, g := range r.GetGrants() {
			names = append(names, g.GetName())
		}
		if !r.GetTruncated() {
			break
		}
		if !all {
			return "", first, errTruncated
		}
		marker = r.GetNextMarker()
	}
	return checker.JoinNames(names), first, nil
}
