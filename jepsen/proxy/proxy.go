// Package proxy cuts links between nodes without root: one TCP proxy per
// directed link (node i dialing node j) on its own loopback address,
// 127.1.<i+1>.<j+1>, forwarding to j's real listener. Each node dials its
// peers through its proxies (the node's --peer-dial-map); cutting a link
// closes its connections and refuses new ones. Clients dial the nodes
// directly, so a cut node stays reachable by clients. Gossip does not go
// through the proxies. A link can also be slowed down rather than cut
// (Shape: delay, jitter, bandwidth, loss); in network namespaces, where
// blackhole routes cut links, the proxies listen on the bridge's host
// address (NewOn) and exist only to shape them.
package proxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Net is the proxies of a cluster.
type Net struct {
	host   string // listen here (any port) instead of 127.1.i.j (NewOn)
	mu     sync.Mutex
	links  map[[2]int][]*link
	closed bool
}

// New returns a Net without proxies.
func New() *Net { return &Net{links: map[[2]int][]*link{}} }

type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	shape Shape // zero: forward at once
	conns map[net.Conn]struct{}
}

// Via starts the proxy through which node from dials addr, an address of
// node to, and returns the proxy's address: same port, on 127.1.from+1.to+1.
func (p *Net) Via(from, to int, addr string) (string, error) {
	if from < 0 || to < 0 || from > 253 || to > 253 {
		return "", fmt.Errorf("proxy: nodes %d and %d out of range", from, to)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	listen := net.JoinHostPort(fmt.Sprintf("127.1.%d.%d", from+1, to+1), port)
	if p.host != "" {
		listen = net.JoinHostPort(p.host, "0")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("proxy %d->%d: %w", from, to, err)
	}
	l := &link{ln: ln, target: addr, conns: map[net.Conn]struct{}{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		ln.Close()
		return "", fmt.Errorf("proxy: closed")
	}
	p.links[[2]int{from, to}] = append(p.links[[2]int{from, to}], l)
	go l.serve()
	return ln.Addr().String(), nil
}

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.forward(c)
	}
}

// track adds c to the link's connections, unless the link is cut.
func (l *link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *link) untrack(cs ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		delete(l.conns, c)
		c.Close()
	}
}

func (l *link) forward(in net.Conn) {
	if !l.track(in) {
		in.Close() // a cut link refuses
		return
	}
	out, err := net.DialTimeout("tcp", l.target, time.Second)
	if err != nil {
		l.untrack(in)
		return
	}
	if !l.track(out) {
		l.untrack(in, out)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		l.shapedCopy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done // either side ends (or the cut closes both): close both
	l.untrack(in, out)
	<-done
}

// setCut cuts (closing every connection) or restores the link.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
			delete(l.conns, c)
		}
	}
}

// Partition cuts the links in grudge: for each node a, node a can no
// longer reach the nodes in grudge[a]. As with blackhole routes (TCP
// needs both directions), the links b->a are cut too.
func (p *Net) Partition(_ context.Context, grudge map[int][]int) error {
	p.each(grudge, true, func(l *link) { l.setCut(true) })
	return nil
}

// Heal restores every link: no cut, no shape.
func (p *Net) Heal(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ls := range p.links {
		for _, l := range ls {
			l.setCut(false)
			l.setShape(Shape{})
		}
	}
	return nil
}

// Cut lists the cut links as "i->j", sorted (for logs and tests).
func (p *Net) Cut() []string { return p.list(func(l *link) bool { return l.cut }) }

// Close stops every proxy and closes its connections.
func (p *Net) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []string
	for _, ls := range p.links {
		for _, l := range ls {
			if err := l.ln.Close(); err != nil {
				errs = append(errs, err.Error())
			}
			l.setCut(true)
		}
	}
	p.links = map[[2]int][]*link{}
	if len(errs) > 0 {
		return fmt.Errorf("proxy: close: %s", strings.Join(errs, "; "))
	}
	return nil
}
