package server_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/server"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// occupy listens on a loopback port until the test ends and returns its
// address.
func occupy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A start-up that fails at a late step releases everything the earlier
// steps acquired: no listener stays open, and the data dir (raft's store
// lock, the HSM) is free for the next start, which succeeds.
func TestFailedStartReleasesWhatItAcquired(t *testing.T) {
	tests := []struct {
		name string
		// spoil makes a step fail; it returns an address it holds, if any.
		spoil func(t *testing.T, cfg *server.Config) (held string)
	}{
		{"raft port in use", func(t *testing.T, cfg *server.Config) string {
			// After the API listener.
			cfg.RaftAddr = occupy(t)
			return cfg.RaftAddr
		}},
		{"audit dir unusable", func(t *testing.T, cfg *server.Config) string {
			// After raft opens: a regular file where a directory must be.
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.AuditDir = filepath.Join(file, "audit")
			return ""
		}},
		{"gossip port in use", func(t *testing.T, cfg *server.Config) string {
			// The last step: after serving, catching up and registering.
			cfg.GossipAddr = occupy(t)
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.APIAddr, cfg.RaftAddr = freeAddr(t), freeAddr(t)
			held := tt.spoil(t, &cfg)
			s, err := server.Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("the node started")
			}
			t.Logf("start failed as it should: %v", err)
			for _, addr := range []string{cfg.APIAddr, cfg.RaftAddr} {
				if addr == held {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("%s is still in use after the failed start: %v", addr, err)
				}
				ln.Close()
			}
			s, err = server.Start(context.Background(), testConfig(dir))
			if err != nil {
				t.Fatalf("start after the failed start: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
