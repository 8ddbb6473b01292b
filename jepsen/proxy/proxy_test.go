package proxy

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// echo serves an echo on loopback and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a byte over c and says whether it came back.
func roundTrip(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return false
	}
	b := make([]byte, 1)
	_, err := io.ReadFull(c, b)
	return err == nil && b[0] == 'x'
}

func dialOK(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	return roundTrip(c)
}

func TestCutAndHeal(t *testing.T) {
	ctx := context.Background()
	p := New()
	defer p.Close()
	target := echo(t)
	via01, err := p.Via(0, 1, target)
	if err != nil {
		t.Fatal(err)
	}
	via21, err := p.Via(2, 1, target)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(via01); host != "127.1.1.2" {
		t.Fatalf("link 0->1 on %s, want 127.1.1.2", via01)
	}
	open, err := net.Dial("tcp", via01)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if !roundTrip(open) || !dialOK(t, via21) {
		t.Fatal("the links do not forward")
	}

	// A grudge of 1 against 0 cuts the link 0->1 too (both directions),
	// and nothing else.
	if err := p.Partition(ctx, map[int][]int{1: {0}}); err != nil {
		t.Fatal(err)
	}
	if got := p.Cut(); !slices.Equal(got, []string{"0->1"}) {
		t.Fatalf("cut %v, want [0->1]", got)
	}
	if roundTrip(open) {
		t.Fatal("an open connection survived the cut")
	}
	if dialOK(t, via01) {
		t.Fatal("a new connection crossed the cut")
	}
	if !dialOK(t, via21) {
		t.Fatal("the link 2->1 was cut too")
	}

	if err := p.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.Cut()) != 0 || !dialOK(t, via01) {
		t.Fatalf("not healed: cut %v", p.Cut())
	}
}

func TestOnlyLoopback(t *testing.T) {
	p := New()
	defer p.Close()
	if _, err := p.Via(0, 300, "127.0.0.1:1"); err == nil {
		t.Fatal("a node index past 253 got a proxy")
	}
}
