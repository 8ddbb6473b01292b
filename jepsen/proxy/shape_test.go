package proxy

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// rtt is the time one byte takes to come back from the echo through c.
func rtt(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	if !roundTrip(c) {
		t.Fatal("no echo")
	}
	return time.Since(start)
}

func TestShapeDelaysOpenConnectionsUntilHealed(t *testing.T) {
	ctx := context.Background()
	p := New()
	defer p.Close()
	via, err := p.Via(0, 1, echo(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", via, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if d := rtt(t, c); d > 100*time.Millisecond {
		t.Fatalf("unshaped round trip took %v", d)
	}
	// One direction only: the echo's answer comes back at once.
	if err := p.Shape(ctx, map[int][]int{0: {1}}, Shape{Delay: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := p.Shaped(); len(got) != 1 || got[0] != "0->1" {
		t.Fatalf("Shaped() = %v, want [0->1]", got)
	}
	if d := rtt(t, c); d < 150*time.Millisecond {
		t.Fatalf("shaped round trip took %v, want at least 150ms", d)
	}
	if err := p.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.Shaped()) != 0 {
		t.Fatalf("Shaped() after heal = %v", p.Shaped())
	}
	if d := rtt(t, c); d > 100*time.Millisecond {
		t.Fatalf("healed round trip took %v", d)
	}
}

func TestShapeRateAndLoss(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		bytes int
		min   time.Duration
	}{
		// 64 KiB at 256 KiB/s: a quarter of a second on the wire.
		{"rate", Shape{Rate: 256 << 10}, 64 << 10, 200 * time.Millisecond},
		// Every chunk lost once: each stalls an RTO.
		{"loss", Shape{Loss: 1}, 1, RTO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New()
			defer p.Close()
			via, err := p.Via(0, 1, echo(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Shape(context.Background(), map[int][]int{0: {1}}, tt.shape); err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", via, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			go func() { _, _ = c.Write(make([]byte, tt.bytes)) }()
			if _, err := io.ReadFull(c, make([]byte, tt.bytes)); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tt.min {
				t.Fatalf("%d bytes came back after %v, want at least %v", tt.bytes, d, tt.min)
			}
		})
	}
}

func TestNewOnListensOnTheHost(t *testing.T) {
	p := NewOn("127.0.0.1")
	defer p.Close()
	via, err := p.Via(0, 1, echo(t))
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(via); host != "127.0.0.1" {
		t.Fatalf("proxy on %s, want 127.0.0.1", via)
	}
	if !dialOK(t, via) {
		t.Fatal("no echo through the proxy")
	}
}
