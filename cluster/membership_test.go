package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/gossip"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/raft"
)

func TestCleanupTargets(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	long, short := now.Add(-time.Hour), now.Add(-time.Second)
	voters := func(ids ...string) []raft.Member {
		var out []raft.Member
		for _, id := range ids {
			out = append(out, raft.Member{ID: id, Voter: !strings.HasPrefix(id, "nv")})
		}
		return out
	}
	gm := func(pairs ...any) map[string]gossip.Member {
		out := map[string]gossip.Member{}
		for i := 0; i < len(pairs); i += 3 {
			out[pairs[i].(string)] = gossip.Member{Name: pairs[i].(string), Health: pairs[i+1].(gossip.Health), Since: pairs[i+2].(time.Time)}
		}
		return out
	}
	on := Membership{DeadServerCleanup: time.Minute, MinVoters: 2}
	tests := []struct {
		name    string
		members []raft.Member
		gossip  map[string]gossip.Member
		m       Membership
		want    []string
	}{
		{"off", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Dead, long), Membership{MinVoters: 2}, nil},
		{"dead long enough", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Dead, long), on, []string{"c"}},
		{"left counts as dead", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Left, long), on, []string{"c"}},
		{"not dead long enough", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Dead, short), on, nil},
		{"suspect is not dead", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Suspect, long), on, nil},
		{"unknown to gossip is kept", voters("a", "b", "c"), gm("b", gossip.Alive, long), on, nil},
		{"never below min voters", voters("a", "b", "c"), gm("b", gossip.Alive, long, "c", gossip.Dead, long),
			Membership{DeadServerCleanup: time.Minute, MinVoters: 3}, nil},
		{"no live majority after removal", voters("a", "b", "c", "d", "e"),
			gm("b", gossip.Dead, long, "c", gossip.Dead, long, "d", gossip.Dead, long, "e", gossip.Alive, long), on, nil},
		{"one voter per pass", voters("a", "b", "c", "d", "e"),
			gm("b", gossip.Alive, long, "c", gossip.Alive, long, "d", gossip.Dead, long, "e", gossip.Dead, long), on, []string{"d"}},
		{"non-voters go regardless", voters("a", "b", "nv1"), gm("b", gossip.Alive, long, "nv1", gossip.Dead, long),
			Membership{DeadServerCleanup: time.Minute, MinVoters: 3}, []string{"nv1"}},
		{"never self", voters("a", "b", "c"), gm("a", gossip.Dead, long, "b", gossip.Alive, long, "c", gossip.Alive, long), on, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cleanupTargets("a", tt.members, tt.gossip, now, tt.m)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeNode answers Status as a node would.
type fakeNode struct {
	clusterv1connect.UnimplementedClusterServiceHandler
	self *clusterv1.NodeStatus
}

func (f *fakeNode) Status(context.Context, *clusterv1.StatusRequest) (*clusterv1.StatusResponse, error) {
	return &clusterv1.StatusResponse{Self: f.self}, nil
}

func TestVerifyMemberAcceptsOnlyThatNodesCertificate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, err := identity.NewCA("trent", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(t *testing.T, node string) tls.Certificate {
		key, _ := identity.NewKeyPair()
		var der []byte
		if node == "" {
			p, _ := identity.ParsePrincipal("arn:aws:iam::111122223333:root")
			der, err = ca.IssueClient(p, key.Public(), now, time.Hour)
		} else {
			der, err = ca.IssueNode(node, identity.LoopbackHosts(), key.Public(), now, time.Hour)
		}
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	_, client := identity.NodeTLSConfigs(ca.Pool(), issue(t, "n1"))
	c := New(Config{NodeID: "n1", PeerTLS: client})
	tests := []struct {
		name    string
		cert    tls.Certificate // what the server at the claimed address presents
		self    string          // who it says it is
		wantErr bool
	}{
		{"the node itself", issue(t, "n2"), "n2", false},
		{"another node's certificate", issue(t, "n3"), "n2", true},
		{"a client certificate", issue(t, ""), "n2", true},
		{"right certificate, wrong self", issue(t, "n2"), "n3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, h := clusterv1connect.NewClusterServiceHandler(&fakeNode{self: &clusterv1.NodeStatus{Id: tt.self, RaftAddr: "127.0.0.1:9"}})
			srv := httptest.NewUnstartedServer(h)
			srv.EnableHTTP2 = true
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.cert}, MinVersion: tls.VersionTLS13}
			srv.StartTLS()
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := c.verifyMember(ctx, "n2", strings.TrimPrefix(srv.URL, "https://"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, %v; wantErr %v", got, err, tt.wantErr)
			}
			if tt.wantErr && errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("refused only by timing out")
			}
		})
	}
}
