package server_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
)

// readLoad reads (ListKeys, a bounded read) from s as fast as it can until
// stop is called, which returns how many reads were served and failed.
func readLoad(t *testing.T, s *server.Server, dir string) (stop func() (served, failed int64)) {
	t.Helper()
	c := kmsVia(s, adminHTTP(t, dir))
	var ok, bad atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := c.ListKeys(ctx, &kmsv1.ListKeysRequest{}); err == nil {
					ok.Add(1)
				} else if ctx.Err() == nil {
					bad.Add(1)
					t.Logf("read failed: %v", err)
				}
			}
		})
	}
	return func() (int64, int64) { cancel(); wg.Wait(); return ok.Load(), bad.Load() }
}

// TestReloadChangesTheStalenessBound: Reload (what SIGHUP runs) tightens
// the staleness bound of a node under load, as the Trent-Staleness-Bound
// of its reads shows, and no read fails; settings that need a restart are
// named and keep their values; an invalid configuration changes nothing.
func TestReloadChangesTheStalenessBound(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxStaleness = server.Duration(time.Hour)
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after readLoad's cleanup
	stop := readLoad(t, s, dir)
	hc := withHeaders(adminHTTP(t, dir))
	c := kmsVia(s, hc)
	read := func() time.Duration {
		t.Helper()
		if _, err := c.ListKeys(context.Background(), &kmsv1.ListKeysRequest{}); err != nil {
			t.Fatal(err)
		}
		return bound(t, hc.last())
	}
	// Under an hour's bound the node confirms its state every half hour:
	// its reads grow staler than the bound the reload sets.
	const tight = 100 * time.Millisecond
	waitFor(t, "a read staler than 300ms", 10*time.Second, holds(func() bool { return read() > 3*tight }))

	next := cfg
	next.MaxStaleness = server.Duration(tight)
	next.LogLevel = "debug"
	next.Region = "eu-west-1"
	next.DataDir = t.TempDir()
	applied, restart, err := s.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--log-level", "--max-staleness"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v; want %v", applied, want)
	}
	if want := []string{"--data-dir", "--region"}; !slices.Equal(restart, want) {
		t.Errorf("need a restart: %v; want %v", restart, want)
	}
	for range 20 {
		if b := read(); b > tight {
			t.Fatalf("a read after the reload reports staleness %s, above the new bound %s", b, tight)
		}
	}
	if served, failed := stop(); failed != 0 || served == 0 {
		t.Fatalf("under load across the reload: %d reads served, %d failed", served, failed)
	}
	ck, err := c.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r := ck.KeyMetadata.Arn; r[:len("arn:aws:kms:us-east-1:")] != "arn:aws:kms:us-east-1:" {
		t.Errorf("the region changed without a restart: %s", r)
	}

	bad := next
	bad.MaxStaleness = server.Duration(time.Millisecond)
	if _, _, err := s.Reload(bad); err == nil {
		t.Fatal("an invalid configuration was reloaded")
	}
	if applied, _, _ := s.Reload(next); len(applied) != 0 {
		t.Fatalf("reloading the same configuration applied %v", applied)
	}
}
