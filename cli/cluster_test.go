package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
)

// fakeCluster answers Status as node n1 of a two-node cluster whose n2 is
// dead and unreachable, and records RemoveNode calls.
type fakeCluster struct {
	clusterv1connect.UnimplementedClusterServiceHandler
	api string // the fixture's host:port, n1's API address

	mu      sync.Mutex
	removed []string
	// prop is the last SetPropagation request; Status reports it.
	prop *clusterv1.SetPropagationRequest
}

func (f *fakeCluster) Status(context.Context, *clusterv1.StatusRequest) (*clusterv1.StatusResponse, error) {
	st := f.status()
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.prop; p != nil && !p.Clear {
		st.Propagation = &clusterv1.Propagation{Delay: p.Delay, Jitter: p.Jitter, Accounts: p.Accounts, SetAt: "2026-12-07T04:40:00Z",
			SetBy: "arn:aws:iam::111122223333:root"}
		st.Self.SimulatedPropagation, st.Self.SimulatedPropagationSource = "2.25s", "cluster"
	}
	return st, nil
}

func (f *fakeCluster) SetPropagation(_ context.Context, req *clusterv1.SetPropagationRequest) (*clusterv1.SetPropagationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prop = req
	return &clusterv1.SetPropagationResponse{Index: 43}, nil
}

func (f *fakeCluster) status() *clusterv1.StatusResponse {
	return &clusterv1.StatusResponse{
		Nodes: []*clusterv1.NodeStatus{
			{Id: "n1", Role: "leader", Voter: true, ApiAddr: f.api, RaftAddr: "127.0.0.1:7701", GossipAddr: "127.0.0.1:7702", Health: "alive"},
			{Id: "n2", Role: "follower", Voter: true, ApiAddr: "127.0.0.1:1", RaftAddr: "127.0.0.1:7711", GossipAddr: "127.0.0.1:7712", Health: "dead"},
		},
		Self: &clusterv1.NodeStatus{Id: "n1", Role: "leader", Voter: true, Term: 4, AppliedIndex: 42, CommitIndex: 42, ApiAddr: f.api, Health: "alive",
			CertNotAfter: "2027-12-07T04:40:00Z"},
		CaNotAfter: "2036-12-05T04:40:00Z",
		DomainRotation: &clusterv1.DomainRotation{Generation: 2, State: "rewrapping", Reason: "remove n3",
			OldKeyId: "11111111111111111111111111111111", NewKeyId: "22222222222222222222222222222222",
			Members: []string{"n1", "n2"}, Ready: []string{"n1", "n2"}, Rewrapped: 128, Total: 300, Started: "2026-12-07T06:00:00Z"},
	}
}

func (f *fakeCluster) RotateDomainKey(context.Context, *clusterv1.RotateDomainKeyRequest) (*clusterv1.RotateDomainKeyResponse, error) {
	return &clusterv1.RotateDomainKeyResponse{Rotation: &clusterv1.DomainRotation{Generation: 3, State: "distributing",
		NewKeyId: "33333333333333333333333333333333"}}, nil
}

func (f *fakeCluster) RemoveNode(_ context.Context, req *clusterv1.RemoveNodeRequest) (*clusterv1.RemoveNodeResponse, error) {
	if req.NodeId != "n2" {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s is not a member", req.NodeId))
	}
	f.mu.Lock()
	f.removed = append(f.removed, req.NodeId)
	f.mu.Unlock()
	return &clusterv1.RemoveNodeResponse{}, nil
}

func TestClusterVerbs(t *testing.T) {
	t.Parallel()
	fc := &fakeCluster{}
	fx := newServerFixture(t, newFakeKMS(), func(mux *http.ServeMux) { mux.Handle(clusterv1connect.NewClusterServiceHandler(fc)) })
	fc.api = strings.TrimPrefix(fx.url, "https://")
	tests := []struct {
		name string
		args []string
	}{
		{"cluster-status", []string{"cluster", "status"}},
		{"cluster-status-text", []string{"cluster", "status", "--output", "text"}},
		{"cluster-remove", []string{"cluster", "remove", "n2"}},
		{"cluster-remove-unknown", []string{"cluster", "remove", "n9"}},
		{"cluster-remove-no-node", []string{"cluster", "remove"}},
		{"cluster-set-propagation-no-delay", []string{"cluster", "set-propagation"}},
		{"cluster-set-propagation", []string{"cluster", "set-propagation", "2s", "--jitter", "500ms", "--accounts", "111122223333"}},
		{"cluster-status-propagation", []string{"cluster", "status"}},
		{"cluster-status-propagation-text", []string{"cluster", "status", "--output", "text"}},
		{"cluster-set-propagation-clear", []string{"cluster", "set-propagation", "--clear"}},
		{"cluster-rotate-domain-key", []string{"cluster", "rotate-domain-key"}},
		{"cluster-rotate-domain-key-extra", []string{"cluster", "rotate-domain-key", "now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := fx.run(t, tt.args...)
			got := stdout
			if code != 0 || stderr != "" {
				got = fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout, stderr)
			}
			checkGolden(t, tt.name, strings.ReplaceAll(got, fc.api, "API"))
		})
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.removed) != 1 || fc.removed[0] != "n2" {
		t.Fatalf("removed %v", fc.removed)
	}
}
