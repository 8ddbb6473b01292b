package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"time"
)

// Shape is how a link carries data while it is slow or lossy: each chunk
// it forwards arrives Delay plus up to Jitter later, in order, no faster
// than Rate bytes a second, and with probability Loss one retransmission
// timeout (RTO) later still. A TCP proxy cannot drop a packet of the
// stream it carries; a lost segment shows up to both ends as a stall of
// an RTO while TCP resends it, which is what Loss makes. The zero Shape
// forwards at once.
type Shape struct {
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	Rate   int64         `json:"rate_bytes_per_second,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
}

// RTO is the stall of a lost chunk: Linux's minimum TCP retransmission
// timeout.
const RTO = 200 * time.Millisecond

func (s Shape) String() string {
	out := fmt.Sprintf("delay %v", s.Delay)
	if s.Jitter > 0 {
		out += fmt.Sprintf(" ±%v", s.Jitter)
	}
	if s.Rate > 0 {
		out += fmt.Sprintf(", %d KiB/s", s.Rate/1024)
	}
	if s.Loss > 0 {
		out += fmt.Sprintf(", %.0f%% loss", 100*s.Loss)
	}
	return out
}

// NewOn returns a Net whose proxies listen on host (any free port)
// instead of 127.1.i.j: in network namespaces, the host side of the
// bridge, which every node reaches.
func NewOn(host string) *Net {
	p := New()
	p.host = host
	return p
}

// Shape makes the links in links slow or lossy: for each node a, node a's
// links to the nodes in links[a] (one direction; add b->a for both). It
// applies to open connections at once. Heal restores them.
func (p *Net) Shape(_ context.Context, links map[int][]int, s Shape) error {
	p.each(links, false, func(l *link) { l.setShape(s) })
	return nil
}

// each calls f on the proxies of the links in links (node a to each node
// in links[a]), and of their reverse links if both.
func (p *Net) each(links map[int][]int, both bool, f func(*link)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, bs := range links {
		for _, b := range bs {
			if a == b {
				continue
			}
			ls := p.links[[2]int{a, b}]
			if both {
				ls = append(slices.Clone(ls), p.links[[2]int{b, a}]...)
			}
			for _, l := range ls {
				f(l)
			}
		}
	}
}

// Shaped lists the shaped links as "i->j", sorted (for logs and tests).
func (p *Net) Shaped() []string {
	return p.list(func(l *link) bool { return l.shape != Shape{} })
}

func (l *link) setShape(s Shape) {
	l.mu.Lock()
	l.shape = s
	l.mu.Unlock()
}

func (l *link) currentShape() Shape {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shape
}

type chunk struct {
	b   []byte
	due time.Time
}

// shapedCopy copies src to dst as the link's shape says: a reader stamps
// each chunk with the time it is due, a writer delivers it then. The
// queue between them is the data in flight; when it is full, the reader
// stops reading, and TCP's flow control pushes back on the sender.
func (l *link) shapedCopy(dst, src net.Conn) {
	q := make(chan chunk, 64)
	go func() {
		defer close(q)
		var last, wireFree time.Time
		for {
			b := make([]byte, 16<<10)
			n, err := src.Read(b)
			if n > 0 {
				now := time.Now()
				s := l.currentShape()
				due := now.Add(s.Delay)
				if s.Jitter > 0 {
					due = due.Add(rand.N(s.Jitter))
				}
				if s.Loss > 0 && rand.Float64() < s.Loss {
					due = due.Add(RTO)
				}
				if s.Rate > 0 {
					wireFree = later(wireFree, now).Add(time.Duration(int64(n) * int64(time.Second) / s.Rate))
					due = later(due, wireFree)
				}
				due = later(due, last) // in order, as TCP delivers
				last = due
				q <- chunk{b[:n], due}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if failed {
			continue // drain: the reader stops once src is closed
		}
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close()
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// list returns the links for which f holds, as sorted "i->j".
func (p *Net) list(f func(*link) bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k, ls := range p.links {
		for _, l := range ls {
			l.mu.Lock()
			yes := f(l)
			l.mu.Unlock()
			if yes {
				out = append(out, fmt.Sprintf("%d->%d", k[0], k[1]))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
