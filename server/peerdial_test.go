package server

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"strings"
	"testing"
)

func TestPeerDialMapFlag(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    map[string]string
		wantErr string
	}{
		{"two links", "127.0.0.1:7701=127.1.1.2:7701, 127.0.0.1:7700=127.1.1.2:7700",
			map[string]string{"127.0.0.1:7701": "127.1.1.2:7701", "127.0.0.1:7700": "127.1.1.2:7700"}, ""},
		{"not a pair", "127.0.0.1:7701", nil, "REAL=VIA"},
		{"not host:port", "127.0.0.1=127.1.1.2:7701", nil, "not host:port"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			cfg, err := ParseArgs([]string{"--peer-dial-map", tt.value}, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(cfg.PeerDialMap, tt.want) {
				t.Fatalf("got %v, %v; want %v", cfg.PeerDialMap, err, tt.want)
			}
		})
	}
}

func TestPeerDialSendsMappedAddressesElsewhere(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c.LocalAddr().String()
		c.Close()
	}()
	// Nothing listens on the peer's "real" address: only the mapping
	// makes the dial succeed.
	dial := peerDial(nil, map[string]string{"127.0.0.1:1": ln.Addr().String()})
	c, err := dial(context.Background(), "tcp", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := <-accepted; got != ln.Addr().String() {
		t.Fatalf("accepted on %s, want %s", got, ln.Addr())
	}

	// Unmapped addresses reach the given dialer unchanged; no map keeps it.
	var dialed []string
	errFake := errors.New("fake")
	fake := func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		return nil, errFake
	}
	_, _ = peerDial(fake, map[string]string{"a:1": "b:1"})(context.Background(), "tcp", "c:1")
	_, _ = peerDial(fake, map[string]string{"a:1": "b:1"})(context.Background(), "tcp", "a:1")
	_, _ = peerDial(fake, nil)(context.Background(), "tcp", "a:1")
	if strings.Join(dialed, " ") != "c:1 b:1 a:1" {
		t.Fatalf("dialed %v", dialed)
	}
}
