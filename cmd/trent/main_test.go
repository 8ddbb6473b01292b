package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/nodeproc"
	"github.com/trentkms/trent/wire"
)

// The test binary is also the trent binary: run with runMainEnv set, it
// runs main, so the tests start real `trent server` processes without a
// build step.
const runMainEnv = "TRENT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// startServer starts `trent server` with args in its own process, and
// waits until it serves.
func startServer(t *testing.T, dir string, args ...string) *nodeproc.Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"server"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p, err := nodeproc.Start(cmd, filepath.Join(dir, "node.log"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Running() {
			p.Signal(syscall.SIGKILL)
			p.Wait(10 * time.Second)
		}
	})
	if err := p.WaitServing(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("%v; its log:\n%s", err, p.LogTail(20))
	}
	return p
}

// headerCatcher stores each response's headers where its request's
// context says (headersKey).
type headerCatcher struct{ rt http.RoundTripper }

type headersKey struct{}

func (c headerCatcher) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if h, ok := r.Context().Value(headersKey{}).(*http.Header); ok && err == nil {
		*h = resp.Header
	}
	return resp, err
}

// TestSIGHUPReloadsTheStalenessBound runs `trent server` with a config
// file, reads from it under load, edits the file and sends SIGHUP: the
// staleness bound its reads report (Trent-Staleness-Bound) obeys the new
// bound, the node logs what it reloaded and what needs a restart, and no
// read fails.
func TestSIGHUPReloadsTheStalenessBound(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "trent.json")
	writeConf := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConf(`{"max_staleness": "1h", "region": "us-east-1"}`)
	p := startServer(t, dir, "--config", conf, "--data-dir", data,
		"--api-addr", "127.0.0.1:17660", "--raft-addr", "127.0.0.1:17661", "--gossip-addr", "127.0.0.1:17662")

	pool, cert, err := identity.LoadCredentials(filepath.Join(data, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: headerCatcher{&http.Transport{TLSClientConfig: identity.ClientTLSConfig(pool, cert), ForceAttemptHTTP2: true}}}
	c := kmsv1connect.NewKeyManagementServiceClient(hc, "https://127.0.0.1:17660")
	ctx := context.Background()
	read := func() (time.Duration, error) {
		var h http.Header
		if _, err := c.ListKeys(context.WithValue(ctx, headersKey{}, &h), &kmsv1.ListKeysRequest{}); err != nil {
			return 0, err
		}
		return time.ParseDuration(h.Get(wire.StalenessBoundHeader))
	}

	// Load across the reload: every read must be served.
	var served, failed atomic.Int64
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stopLoad(); wg.Wait() })
	for range 2 {
		wg.Go(func() {
			for lctx.Err() == nil {
				if _, err := read(); err == nil {
					served.Add(1)
				} else if lctx.Err() == nil {
					failed.Add(1)
				}
			}
		})
	}

	// Under an hour's bound reads grow staler than the one reloaded.
	const tight = 100 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if b > 3*tight {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no read staler than %s under a bound of 1h (last %s)", 3*tight, b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	writeConf(`{"max_staleness": "100ms", "region": "eu-west-1"}`)
	if _, err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload logs what it applied, then (a second line, written a
	// moment later) what needs a restart: wait for both.
	said := func(log string) bool {
		return strings.Contains(log, "configuration reloaded") && strings.Contains(log, "applied=--max-staleness") &&
			strings.Contains(log, "need a restart") && strings.Contains(log, "settings=--region")
	}
	for deadline := time.Now().Add(10 * time.Second); !said(p.LogTail(50)); {
		if time.Now().After(deadline) {
			t.Fatalf("within 10s the log did not say what was reloaded and what needs a restart:\n%s", p.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 20 {
		b, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if b > tight {
			t.Fatalf("a read after SIGHUP reports staleness %s, above the reloaded bound %s", b, tight)
		}
	}
	stopLoad()
	wg.Wait()
	if served.Load() == 0 || failed.Load() != 0 {
		t.Fatalf("under load across SIGHUP: %d reads served, %d failed", served.Load(), failed.Load())
	}
	if !p.Running() {
		t.Fatal("the node exited on SIGHUP")
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(30*time.Second) || p.Err() != nil {
		t.Fatalf("the node did not exit cleanly on SIGTERM: %v", p.Err())
	}
}
