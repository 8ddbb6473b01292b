package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"

	"github.com/trentkms/trent/identity"
)

// handshakeTimeout bounds an incoming connection's TLS handshake.
const handshakeTimeout = 10 * time.Second

// ErrNotMember is the error a dial returns when the address is not a
// member's, or the node answering there is not the member configured at it.
var ErrNotMember = errors.New("raft: the peer is not a member")

// stream is a raft.StreamLayer over TCP, optionally wrapped in mutual TLS.
//
// With TLS, it speaks raft only with members. hashicorp/raft itself takes
// AppendEntries from any node claiming a higher term, so a removed node,
// whose certificate is still valid, could depose the leader or make a
// follower truncate its log. The stream therefore:
//
//   - completes each incoming handshake before raft sees the connection,
//     and hands raft only connections whose peer certificate names a node
//     in the latest raft configuration (or any node while this node has no
//     configuration at all: a node waiting to be added knows no members
//     until the leader's first AppendEntries brings them);
//   - on dialing, expects the certificate of the node configured at that
//     address;
//   - tracks both kinds of connection by node id and closes those of a node
//     that leaves the configuration (refresh runs after every committed
//     configuration change and every snapshot restore).
//
// A member that missed membership changes while it was down checks peers
// against its old configuration until a leader it knows brings it up to
// date: it refuses a member added meanwhile, even as leader.
type stream struct {
	ln        net.Listener // TCP
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	// clientFunc, if set, supplies the client configuration of each dial
	// instead of client (Config.ClientTLSFunc).
	clientFunc func() *tls.Config
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	logger     hclog.Logger

	accepted chan net.Conn
	done     chan struct{}
	ctx      context.Context // ends with done; bounds incoming handshakes
	cancel   context.CancelFunc
	closed   sync.Once
	kick     chan struct{} // asks refresh to run

	// ready is closed once configuration is set (raft is running).
	ready         chan struct{}
	configuration func() hraft.Configuration
	// leader returns the id of the node this one follows, "" if none
	// (set with configuration).
	leader func() string

	mu    sync.Mutex
	conns map[*peerConn]struct{} // guarded by mu
}

func listen(ln net.Listener, bind, advertise string, server, client *tls.Config, logger hclog.Logger) (*stream, error) {
	if (server == nil) != (client == nil) {
		return nil, errors.New("raft: ServerTLS and ClientTLS must be set together")
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, fmt.Errorf("raft: listen on %s: %w", bind, err)
		}
	}
	adv := ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft: advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	if tcp, ok := adv.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft: bind address %s is unspecified; set an advertise address", bind)
	}
	s := &stream{ln: ln, advertise: adv, server: server, client: client, logger: logger,
		accepted: make(chan net.Conn), done: make(chan struct{}), kick: make(chan struct{}, 1),
		ready: make(chan struct{}), conns: map[*peerConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if server != nil {
		go s.acceptLoop()
		go s.refreshLoop()
	}
	return s, nil
}

// setConfiguration hands the stream raft's latest configuration; incoming
// connections wait for it. Call it once.
func (s *stream) setConfiguration(f func() hraft.Configuration, leader func() string) {
	s.configuration, s.leader = f, leader
	close(s.ready)
}

// member reports whether node id may speak raft with this node: it is in
// the configuration (see admits), or it is the leader this node follows.
// A joiner that installs its leader's snapshot takes that snapshot's
// configuration, which lacks the leader when the leader itself joined
// after the snapshot was taken; refusing the leader then would keep the
// joiner from ever receiving the entries that add it (Jepsen grants/wipe,
// seed 3206: a wiped node rejoined while the leader was a node that had
// rejoined just before, and never caught up). A node follows a leader only
// after accepting its messages in a term at least its own.
func (s *stream) member(conf hraft.Configuration, id string) bool {
	return admits(conf, id) || (s.leader != nil && id != "" && id == s.leader())
}

// configurationChanged asks for the live connections to be checked
// against the configuration. It never blocks.
func (s *stream) configurationChanged() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *stream) Addr() net.Addr { return s.advertise }

// Accept returns the next incoming connection: with TLS, one whose
// handshake completed and whose peer is a member.
func (s *stream) Accept() (net.Conn, error) {
	if s.server == nil {
		return s.ln.Accept()
	}
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting. Connections already handed to raft are raft's.
func (s *stream) Close() error {
	err := s.ln.Close()
	s.closed.Do(func() {
		close(s.done)
		s.cancel()
	})
	return err
}

func (s *stream) acceptLoop() {
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logger.Warn("raft listener", "error", err)
			select {
			case <-s.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		go s.admit(raw) // a slow handshake must not hold up the others
	}
}

// admit completes raw's handshake and hands it to Accept if its peer is a
// member.
func (s *stream) admit(raw net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
	defer cancel()
	c := tls.Server(raw, s.server)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		s.logger.Debug("raft handshake failed", "remote", raw.RemoteAddr().String(), "error", err)
		return
	}
	id, err := peerNodeID(c)
	if err != nil {
		raw.Close()
		return
	}
	select {
	case <-s.ready:
	case <-s.done:
		raw.Close()
		return
	}
	pc := &peerConn{Conn: c, raw: raw, id: id, s: s}
	if !s.track(pc) {
		raw.Close()
		s.logger.Warn("refused a raft connection from a node that is not a member", "node", id, "remote", raw.RemoteAddr().String())
		return
	}
	select {
	case s.accepted <- pc:
	case <-s.done:
		pc.Close()
	}
}

// track records c if its node is a member, and reports whether it is. It
// checks under the same lock as refresh, so a connection is either seen by
// the refresh that follows a removal or refused here.
func (s *stream) track(c *peerConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.member(s.configuration(), c.id) {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *stream) untrack(c *peerConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// admits reports whether node id may speak raft with this node under
// conf: it is in it, or conf is empty (this node waits to be added).
func admits(conf hraft.Configuration, id string) bool {
	if len(conf.Servers) == 0 {
		return true
	}
	for _, srv := range conf.Servers {
		if string(srv.ID) == id {
			return true
		}
	}
	return false
}

func (s *stream) refreshLoop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		select {
		case <-s.ready:
		case <-s.done:
			return
		}
		s.refresh()
	}
}

// refresh closes the connections, both ways, of nodes that are no longer
// in the configuration. It closes the TCP connection under TLS, which
// never blocks; raft sees the error on its next read or write, and a
// pooled outgoing connection is never used again.
func (s *stream) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	conf := s.configuration()
	for c := range s.conns {
		if !s.member(conf, c.id) {
			delete(s.conns, c)
			c.raw.Close()
			s.logger.Info("closed the raft connection of a removed node", "node", c.id)
		}
	}
}

// Dial connects to the member at addr. With TLS, the peer must present
// the certificate of the node the configuration has at addr.
func (s *stream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	want := ""
	if s.client != nil {
		select {
		case <-s.ready:
		case <-s.done:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for _, srv := range s.configuration().Servers {
			if srv.Address == addr {
				want = string(srv.ID)
			}
		}
		if want == "" {
			return nil, fmt.Errorf("%w: no member has the address %s", ErrNotMember, addr)
		}
	}
	dial := s.dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", string(addr))
	if err != nil || s.client == nil {
		return raw, err
	}
	tmpl := s.client
	if s.clientFunc != nil {
		tmpl = s.clientFunc()
	}
	cfg := tmpl.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(string(addr)); err == nil {
			cfg.ServerName = host
		}
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if id, err := peerNodeID(c); err != nil || id != want {
		raw.Close()
		return nil, fmt.Errorf("%w: %s answers with the certificate of %q, not of %q", ErrNotMember, addr, id, want)
	}
	pc := &peerConn{Conn: c, raw: raw, id: want, s: s}
	if !s.track(pc) { // removed while we dialed
		raw.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotMember, want)
	}
	return pc, nil
}

// peerNodeID returns the node id of a handshaken connection's peer.
func peerNodeID(c *tls.Conn) (string, error) {
	cs := c.ConnectionState()
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("raft: the peer certificate was not verified")
	}
	return identity.NodeIDFromCert(cs.VerifiedChains[0][0])
}

// peerConn is a TLS connection to or from node id, tracked by the stream
// while it is open.
type peerConn struct {
	net.Conn // *tls.Conn
	raw      net.Conn
	id       string
	s        *stream
}

func (c *peerConn) Close() error {
	c.s.untrack(c)
	return c.Conn.Close()
}
