package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// oldTransport is a raft transport that presents a node's certificate
// from its data directory: what a removed node still holds.
type oldTransport struct {
	tr    *hraft.NetworkTransport
	id    string
	mu    sync.Mutex
	conns []net.Conn
}

type oldStream struct {
	net.Listener
	o   *oldTransport
	cfg *tls.Config
}

func (s *oldStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.cfg)
	if err != nil {
		return nil, err
	}
	s.o.mu.Lock()
	s.o.conns = append(s.o.conns, c)
	s.o.mu.Unlock()
	return c, nil
}

func (c *testCluster) oldTransport(t *testing.T, s *server.Server, id string) *oldTransport {
	t.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(c.adminDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.DataDir(), "node", "cert.pem"), filepath.Join(s.DataDir(), "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	_, client := identity.NodeTLSConfigs(pool, cert)
	client.ServerName = "127.0.0.1"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &oldTransport{id: id}
	o.tr = hraft.NewNetworkTransport(&oldStream{Listener: ln, o: o, cfg: client}, 1, 5*time.Second, io.Discard)
	t.Cleanup(func() { o.tr.Close() })
	return o
}

func (o *oldTransport) header() hraft.RPCHeader {
	return hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(o.id), Addr: []byte(o.tr.LocalAddr())}
}

func (o *oldTransport) vote(s *server.Server, id string, term uint64) error {
	var resp hraft.RequestVoteResponse
	return o.tr.RequestVote(hraft.ServerID(id), hraft.ServerAddress(s.RaftAddr()), &hraft.RequestVoteRequest{
		RPCHeader: o.header(), Term: term, LastLogIndex: 1 << 40, LastLogTerm: term,
	}, &resp)
}

func (o *oldTransport) appendEntries(s *server.Server, id string, term uint64) error {
	var resp hraft.AppendEntriesResponse
	return o.tr.AppendEntries(hraft.ServerID(id), hraft.ServerAddress(s.RaftAddr()), &hraft.AppendEntriesRequest{
		RPCHeader: o.header(), Term: term,
	}, &resp)
}

func nodeSerial(t *testing.T, s *server.Server) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.DataDir(), "node", "cert.pem"), filepath.Join(s.DataDir(), "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.Text(16)
}

// revoked returns the deny list as the leader n1 sees it.
func (c *testCluster) revoked(t *testing.T) map[string]bool {
	t.Helper()
	iamc := iamv1connect.NewIdentityServiceClient(adminHTTP(t, c.adminDir), "https://"+c.nodes[0].APIAddr())
	r, err := iamc.ListRevokedCerts(context.Background(), &iamv1.ListRevokedCertsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, rc := range r.GetRevokedCerts() {
		out[rc.GetSerialNumber()] = true
	}
	return out
}

// A removed node keeps its certificate, its raft log and its transport. It
// must not be able to move a member's term (deposing the leader) or send
// entries: the members refuse its raft connections, close the one it had
// open, and its certificate is on the deny list.
func TestRemovedNodeCannotSpeakRaft(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	n3 := c.oldTransport(t, c.nodes[2], "n3")
	// As a member, n3 reaches n2's raft (a stale vote request is answered).
	if err := n3.vote(c.nodes[1], "n2", 0); err != nil {
		t.Fatalf("a member's raft connection was refused: %v", err)
	}
	n3.mu.Lock()
	live := n3.conns[0]
	n3.mu.Unlock()

	if _, err := c.admin(t, c.nodes[0]).RemoveNode(ctx, &clusterv1.RemoveNodeRequest{NodeId: "n3"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "n2 has applied n3's removal", func() bool { return len(c.statusOf(t, c.nodes[1]).GetNodes()) == 2 })
	_ = live.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := live.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("n2 kept the removed node's raft connection open: %v", err)
	}
	if !c.revoked(t)[nodeSerial(t, c.nodes[2])] {
		t.Fatal("the removed node's certificate is not on the deny list")
	}

	// With a term far ahead, n3 asks for votes and claims leadership.
	var high uint64
	for _, s := range c.nodes[:2] {
		high = max(high, c.statusOf(t, s).GetSelf().GetTerm()+100)
	}
	for i, s := range c.nodes[:2] {
		id := []string{"n1", "n2"}[i]
		if err := n3.vote(s, id, high); err == nil {
			t.Fatalf("%s took a vote request from the removed node", id)
		}
		if err := n3.appendEntries(s, id, high); err == nil {
			t.Fatalf("%s took an AppendEntries from the removed node", id)
		}
	}
	for i, s := range c.nodes[:2] {
		if term := c.statusOf(t, s).GetSelf().GetTerm(); term >= high {
			t.Fatalf("n%d moved to the removed node's term %d", i+1, term)
		}
	}
	// The two members still commit.
	if _, err := c.kms(t, 1).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
}
