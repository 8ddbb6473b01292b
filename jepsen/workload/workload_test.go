package workload

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/jepsen/client"
	"github.com/trentkms/trent/jepsen/history"
)

// fakeNode answers DescribeKey and ListGrants, or refuses every call if
// down, and counts the calls per key.
type fakeNode struct {
	client.KMS // the other methods are not called
	down       bool
	mu         sync.Mutex
	calls      map[string]int // "describe key" or "list key"
}

func (n *fakeNode) count(what, key string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls[what+" "+key]++
	if n.down {
		return connect.NewError(connect.CodeUnavailable, errors.New("not serving"))
	}
	return nil
}

func (n *fakeNode) DescribeKey(_ context.Context, req *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	if err := n.count("describe", req.GetKeyId()); err != nil {
		return nil, err
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{KeyId: req.GetKeyId(), Enabled: true}}, nil
}

func (n *fakeNode) ListGrants(_ context.Context, req *kmsv1.ListGrantsRequest) (*kmsv1.ListGrantsResponse, error) {
	if err := n.count("list", req.GetKeyId()); err != nil {
		return nil, err
	}
	return &kmsv1.ListGrantsResponse{}, nil
}

// A node that fails a final read for its whole retry window gets one
// attempt per later read, so a node stuck for good does not hold the
// final phase for minutes; a healthy node's reads are unaffected.
func TestFinalReadsGiveUpRetryingAStuckNode(t *testing.T) {
	healthy := &fakeNode{calls: map[string]int{}}
	stuck := &fakeNode{down: true, calls: map[string]int{}}
	e := &Env{
		Rec:         history.NewRecorder(time.Now),
		NodeIDs:     []string{"n1", "n2"},
		Admin:       []client.KMS{healthy, stuck},
		Concurrency: 1,
		FinalWindow: time.Second,
		keys:        []string{"k1", "k2", "k3"},
	}
	e.FinalReads(t.Context(), NewWorker(0, 1))

	for _, key := range e.keys {
		for _, what := range []string{"describe", "list"} {
			if got := healthy.calls[what+" "+key]; got != 1 {
				t.Errorf("healthy node: %d calls to %s %s, want 1", got, what, key)
			}
		}
	}
	if got := stuck.calls["describe k1"]; got < 2 {
		t.Fatalf("stuck node: %d calls to its first read, want retries for the whole window", got)
	}
	for _, read := range []string{"list k1", "describe k2", "list k2", "describe k3", "list k3"} {
		if got := stuck.calls[read]; got != 1 {
			t.Errorf("stuck node: %d calls to %s after its first read failed for good, want 1", got, read)
		}
	}
	var failed, attempts int
	for _, op := range e.Rec.Ops() {
		if op.Node == "n2" && op.Type != history.Ok {
			failed++
		}
	}
	for _, n := range stuck.calls {
		attempts += n
	}
	if failed != attempts {
		t.Errorf("%d failed reads of the stuck node recorded, want one per attempt (%d)", failed, attempts)
	}
}
