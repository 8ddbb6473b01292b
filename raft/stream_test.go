package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
)

// testCA issues node certificates for loopback, as the cluster CA does.
type testCA struct{ ca *identity.CA }

func newTestCA(t *testing.T) testCA {
	t.Helper()
	ca, err := identity.NewCA("trent", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return testCA{ca}
}

func (c testCA) nodeCert(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, err := identity.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	der, err := c.ca.IssueNode(id, identity.LoopbackHosts(), key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// openTLS starts node id on loopback with its node certificate.
func (c testCA) openTLS(t *testing.T, id string, bootstrap bool) *Node {
	t.Helper()
	server, client := identity.NodeTLSConfigs(c.ca.Pool(), c.nodeCert(t, id))
	n, err := Open(Config{
		NodeID: id, Dir: t.TempDir(), BindAddr: "127.0.0.1:0", FSM: fsmMachine{fsm.New()}, Bootstrap: bootstrap,
		ServerTLS: server, ClientTLS: client,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if bootstrap {
		waitFor(t, id+" leads", n.IsLeader)
	}
	return n
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), outcomeWithin)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}

// peer is another raft transport that presents a node certificate but
// runs no raft: it sends whatever RPCs a test (or a removed node) wants.
type peer struct {
	tr    *hraft.NetworkTransport
	id    string
	mu    sync.Mutex
	conns []net.Conn // every connection it dialed
}

type peerStream struct {
	net.Listener
	p   *peer
	cfg *tls.Config
}

func (s *peerStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.cfg)
	if err != nil {
		return nil, err
	}
	s.p.mu.Lock()
	s.p.conns = append(s.p.conns, c)
	s.p.mu.Unlock()
	return c, nil
}

func (c testCA) peer(t *testing.T, id string) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, client := identity.NodeTLSConfigs(c.ca.Pool(), c.nodeCert(t, id))
	client.ServerName = "127.0.0.1"
	p := &peer{id: id}
	p.tr = hraft.NewNetworkTransport(&peerStream{Listener: ln, p: p, cfg: client}, 1, 5*time.Second, io.Discard)
	t.Cleanup(func() { p.tr.Close() })
	return p
}

// vote asks n for its vote in a term far ahead, with a log far ahead: a
// member would have to grant it (and n, a leader, step down).
func (p *peer) vote(n *Node) error {
	var resp hraft.RequestVoteResponse
	return p.tr.RequestVote(hraft.ServerID(n.ID()), hraft.ServerAddress(n.Addr()), &hraft.RequestVoteRequest{
		RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(p.id), Addr: []byte(p.tr.LocalAddr())},
		Term:      n.Term() + 100, LastLogIndex: 1 << 40, LastLogTerm: n.Term() + 99,
	}, &resp)
}

// appendEntries claims leadership of n's cluster in a term far ahead.
func (p *peer) appendEntries(n *Node) error {
	var resp hraft.AppendEntriesResponse
	return p.tr.AppendEntries(hraft.ServerID(n.ID()), hraft.ServerAddress(n.Addr()), &hraft.AppendEntriesRequest{
		RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(p.id), Addr: []byte(p.tr.LocalAddr())},
		Term:      n.Term() + 100,
	}, &resp)
}

// A node that holds a valid certificate of the cluster CA but is not in
// the configuration cannot reach raft at all: its votes and heartbeats are
// refused when it connects, and the leader's term does not move.
func TestRaftRefusesANodeOutsideTheConfiguration(t *testing.T) {
	ca := newTestCA(t)
	n1 := ca.openTLS(t, "n1", true)
	term := n1.Term()
	stranger := ca.peer(t, "n9")
	if err := stranger.vote(n1); err == nil {
		t.Fatal("a vote request from a non-member reached raft")
	}
	if err := stranger.appendEntries(n1); err == nil {
		t.Fatal("an AppendEntries from a non-member reached raft")
	}
	if n1.Term() != term || !n1.IsLeader() {
		t.Fatalf("the leader's term moved from %d to %d (leader: %v)", term, n1.Term(), n1.IsLeader())
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A member's live connection is closed when the member is removed, and its
// next connection is refused.
func TestRaftDropsTheConnectionsOfARemovedNode(t *testing.T) {
	ca := newTestCA(t)
	n1 := ca.openTLS(t, "n1", true)
	if err := n1.AddNonvoter("n2", deadAddr(t)); err != nil {
		t.Fatal(err)
	}
	n2 := ca.peer(t, "n2")
	// A connection that never starts its handshake holds up no one.
	silent, err := net.Dial("tcp", n1.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A member connects; raft answers (and does not grant the vote).
	var resp hraft.RequestVoteResponse
	if err := n2.tr.RequestVote("n1", hraft.ServerAddress(n1.Addr()), &hraft.RequestVoteRequest{
		RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("n2"), Addr: []byte(n2.tr.LocalAddr())}, Term: n1.Term(),
	}, &resp); err != nil {
		t.Fatalf("a member's vote request was refused: %v", err)
	}
	n2.mu.Lock()
	live := n2.conns[0] // pooled, idle
	n2.mu.Unlock()

	if err := n1.RemoveServer("n2"); err != nil {
		t.Fatal(err)
	}
	_ = live.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = live.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the removed node's connection is still open: %v", err)
	}
	term := n1.Term()
	if err := n2.vote(n1); err == nil {
		t.Fatal("a removed node's vote request reached raft")
	}
	if n1.Term() != term || !n1.IsLeader() {
		t.Fatalf("the leader's term moved from %d to %d", term, n1.Term())
	}
}

// The leader dials a member only at its configured address and only if
// the node answering there is that member; a node waiting to be added
// (no configuration yet) takes the leader's connection and catches up.
func TestRaftDialsOnlyTheConfiguredNode(t *testing.T) {
	ca := newTestCA(t)
	n1 := ca.openTLS(t, "n1", true)
	n3 := ca.openTLS(t, "n3", false)
	if _, err := n1.stream.Dial(hraft.ServerAddress(n3.Addr()), 5*time.Second); !errors.Is(err, ErrNotMember) {
		t.Fatalf("dialed an address no member has: %v", err)
	}
	// The configuration says n2 is at n3's address.
	if err := n1.AddNonvoter("n2", n3.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.stream.Dial(hraft.ServerAddress(n3.Addr()), 5*time.Second); !errors.Is(err, ErrNotMember) {
		t.Fatalf("took n3's certificate for n2's: %v", err)
	}
	if m, _ := n3.Members(); len(m) != 0 {
		t.Fatalf("n3 has a configuration from a leader it should not have trusted: %v", m)
	}
	if err := n1.RemoveServer("n2"); err != nil {
		t.Fatal(err)
	}
	if err := n1.AddNonvoter("n3", n3.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 has the configuration", func() bool {
		m, _ := n3.Members()
		return len(m) == 2
	})
	c, err := n1.stream.Dial(hraft.ServerAddress(n3.Addr()), 5*time.Second)
	if err != nil {
		t.Fatalf("dial the configured node: %v", err)
	}
	c.Close()
}

// The node this one follows may speak raft with it even if the
// configuration it has (from its leader's snapshot) does not list it yet;
// other nodes outside the configuration may not.
func TestStreamAdmitsTheLeaderItFollows(t *testing.T) {
	conf := hraft.Configuration{Servers: []hraft.Server{{ID: "n1", Address: "a1"}, {ID: "n2", Address: "a2"}}}
	for _, tc := range []struct {
		name, leader, id string
		want             bool
	}{
		{"a member", "", "n1", true},
		{"the leader, not in the configuration", "n3", "n3", true},
		{"another non-member", "n3", "n4", false},
		{"no leader known", "", "n3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stream{leader: func() string { return tc.leader }}
			if got := s.member(conf, tc.id); got != tc.want {
				t.Fatalf("member(%s) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}
