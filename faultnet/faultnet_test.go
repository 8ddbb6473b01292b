package faultnet

import (
	"context"
	"io"
	"net"
	"testing"
)

// echo serves one listener that echoes bytes back.
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
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn) error {
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

func TestCutClosesAndRefusesUntilHealed(t *testing.T) {
	n := New()
	addrB, addrC := echo(t), echo(t)
	n.Register("b", addrB)
	n.Register("c", addrC)
	dialA := n.Dialer("a")
	ctx := context.Background()

	ab, err := dialA(ctx, "tcp", addrB)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := dialA(ctx, "tcp", addrC)
	if err != nil {
		t.Fatal(err)
	}
	n.Cut("b", "a") // either order names the link
	if err := roundTrip(ab); err == nil {
		t.Fatal("a connection on a cut link still works")
	}
	if _, err := dialA(ctx, "tcp", addrB); err == nil {
		t.Fatal("a dial over a cut link succeeded")
	}
	if _, err := n.Dialer("b")(ctx, "tcp", addrB); err != nil {
		t.Fatalf("b dialing itself: %v", err)
	}
	if err := roundTrip(ac); err != nil {
		t.Fatalf("the a-c link was not cut but failed: %v", err)
	}
	unknown := echo(t) // a client-facing address nobody registered
	if _, err := dialA(ctx, "tcp", unknown); err != nil {
		t.Fatalf("dial to an unregistered address: %v", err)
	}

	n.Heal()
	again, err := dialA(ctx, "tcp", addrB)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	if err := roundTrip(again); err != nil {
		t.Fatal(err)
	}
}

func TestIsolate(t *testing.T) {
	n := New()
	addrs := map[string]string{"a": echo(t), "b": echo(t), "c": echo(t)}
	for node, a := range addrs {
		n.Register(node, a)
	}
	n.Isolate("c", "a", "b", "c")
	ctx := context.Background()
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{{"a", "b", true}, {"a", "c", false}, {"c", "b", false}, {"b", "a", true}} {
		_, err := n.Dialer(tc.from)(ctx, "tcp", addrs[tc.to])
		if (err == nil) != tc.ok {
			t.Errorf("%s -> %s: err %v, want ok=%v", tc.from, tc.to, err, tc.ok)
		}
	}
}

// A connection dialed before its destination was registered is still cut.
func TestCutFindsConnectionsDialedBeforeRegistration(t *testing.T) {
	n := New()
	addr := echo(t)
	c, err := n.Dialer("a")(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n.Register("b", addr)
	n.Cut("a", "b")
	if err := roundTrip(c); err == nil {
		t.Fatal("an early connection survived the cut")
	}
}
