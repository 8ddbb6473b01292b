// Package faultnet is a network that tests can cut. Nodes dial each other
// through a Net; cutting the link between two nodes closes the
// connections either of them dialed to the other and refuses new ones
// until the link heals, in both directions. Connections from clients are
// not affected: a node cut off from its peers can still be asked
// questions, which is the interesting case for consistency.
//
// It models a partition by resets and refusals rather than silence; the
// Jepsen harness (jepsen/) covers silent drops and paused processes with
// real network namespaces and signals.
package faultnet

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Net is the network between a set of named nodes. It is safe for
// concurrent use.
type Net struct {
	mu    sync.Mutex
	nodes map[string]string // listen address -> node
	cut   map[link]bool
	conns map[*conn]struct{}
}

// link is an unordered pair of nodes.
type link struct{ a, b string }

func linkOf(a, b string) link {
	if b < a {
		a, b = b, a
	}
	return link{a, b}
}

// New returns a Net with every link up.
func New() *Net {
	return &Net{nodes: map[string]string{}, cut: map[link]bool{}, conns: map[*conn]struct{}{}}
}

// Register names the node listening on each of addrs, so that dials to
// them can be cut.
func (n *Net) Register(node string, addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		n.nodes[a] = node
	}
}

// Dialer returns the dial function for node from.
func (n *Net) Dialer(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.nodes[addr]
		l := linkOf(from, to)
		refused := known && n.cut[l]
		n.mu.Unlock()
		if refused {
			return nil, fmt.Errorf("faultnet: link %s-%s is cut", l.a, l.b)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Every connection is tracked, also to addresses not registered
		// yet: a cut later finds it by its address.
		fc := &conn{Conn: c, net: n, from: from, addr: addr}
		n.mu.Lock()
		defer n.mu.Unlock()
		if to, ok := n.nodes[addr]; ok && n.cut[linkOf(from, to)] { // cut while dialing
			c.Close()
			return nil, fmt.Errorf("faultnet: link %s-%s is cut", l.a, l.b)
		}
		n.conns[fc] = struct{}{}
		return fc, nil
	}
}

// Cut takes the link between a and b down.
func (n *Net) Cut(a, b string) {
	l := linkOf(a, b)
	n.mu.Lock()
	n.cut[l] = true
	var doomed []*conn
	for c := range n.conns {
		if to, ok := n.nodes[c.addr]; ok && linkOf(c.from, to) == l {
			doomed = append(doomed, c)
		}
	}
	n.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// Isolate cuts node off from each of others.
func (n *Net) Isolate(node string, others ...string) {
	for _, o := range others {
		if o != node {
			n.Cut(node, o)
		}
	}
}

// Heal brings every link back up.
func (n *Net) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// conn is a connection on a link; it leaves the Net when closed.
type conn struct {
	net.Conn
	net  *Net
	from string // the node that dialed
	addr string // the address it dialed
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.net.mu.Lock()
		delete(c.net.conns, c)
		c.net.mu.Unlock()
	})
	return c.Conn.Close()
}
