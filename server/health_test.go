package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/trentkms/trent/server"
)

// health is a health endpoint's answer.
type health struct {
	code                        int
	Node, Status, Phase, Leader string
	Reasons                     []string
}

// getHealth GETs path (/v1/health/live or /v1/health/ready) from the node
// at addr without a client certificate, as a load balancer does.
func getHealth(t *testing.T, hc *http.Client, addr, path string) health {
	t.Helper()
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var h health
	if err := json.Unmarshal(b, &h); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s answered %d %s %q: %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), b, err)
	}
	h.code = resp.StatusCode
	return h
}

// grpcHealth asks the gRPC health service about service over gRPC.
func grpcHealth(t *testing.T, hc *http.Client, addr, service string) (grpchealth.Status, error) {
	t.Helper()
	r, err := grpchealth.NewClient(hc, "https://"+addr, connect.WithGRPC()).Check(context.Background(), &grpchealth.CheckRequest{Service: service})
	if err != nil {
		return 0, err
	}
	return r.Status, nil
}

// wantHealth checks that the node at addr is live, and ready or not ready
// for the reason (a substring of one of the reasons), over HTTP and gRPC.
func wantHealth(t *testing.T, hc *http.Client, addr, id, phase, reason string) {
	t.Helper()
	if h := getHealth(t, hc, addr, "/v1/health/live"); h.code != http.StatusOK || h.Status != "live" || h.Node != id || h.Phase != phase {
		t.Errorf("live: %+v; want 200 live, node %s, phase %s", h, id, phase)
	}
	h := getHealth(t, hc, addr, "/v1/health/ready")
	wantGRPC := grpchealth.StatusServing
	if reason == "" {
		if h.code != http.StatusOK || h.Status != "ready" || len(h.Reasons) != 0 || h.Leader == "" {
			t.Errorf("ready: %+v; want 200 ready with a leader", h)
		}
	} else {
		wantGRPC = grpchealth.StatusNotServing
		if h.code != http.StatusServiceUnavailable || h.Status != "not ready" || !strings.Contains(strings.Join(h.Reasons, "; "), reason) {
			t.Errorf("ready: %+v; want 503 not ready because %q", h, reason)
		}
	}
	for _, svc := range []string{"", "trent.kms.v1.KeyManagementService", "trent.iam.v1.IdentityService"} {
		if got, err := grpcHealth(t, hc, addr, svc); err != nil || got != wantGRPC {
			t.Errorf("gRPC health of %q: %v, %v; want %v", svc, got, err, wantGRPC)
		}
	}
}

// TestHealthFollowsTheNodesState holds a restarted node in each state in
// which it does not serve (no leader, catching up, HSM sealed, shutting
// down): it is live, not ready, and says why, over HTTP and the gRPC
// health service; in between it is ready.
func TestHealthFollowsTheNodesState(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	hc := noCertHTTP(t, dir)
	// A node is ready once its read tracker first confirms its state,
	// just after it starts serving.
	waitReady := func(addr string) {
		waitFor(t, addr+" is ready", 10*time.Second, func() error {
			if h := getHealth(t, hc, addr, "/v1/health/ready"); h.code != http.StatusOK {
				return fmt.Errorf("ready is %+v", h)
			}
			return nil
		})
	}
	waitReady(s.APIAddr())
	wantHealth(t, hc, s.APIAddr(), "node1", "serving", "")
	if _, err := grpcHealth(t, hc, s.APIAddr(), "no.such.Service"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("gRPC health of an unknown service: %v; want not found", err)
	}
	if resp, body := post(t, hc, "https://"+s.APIAddr(), "/v1/health/ready"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/health/ready: %d %s; want 405", resp.StatusCode, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	stops, release, started := startHeld(dir, &s, "waiting-for-leader", "catching-up", "closing")
	for _, tc := range []struct{ state, phase, reason string }{
		{"waiting-for-leader", "starting", "starting: no raft leader is known yet"},
		{"catching-up", "catching-up", "starting: catching up with the cluster's log"},
	} {
		h := <-stops
		if h.state != tc.state {
			t.Fatalf("held at %s; want %s", h.state, tc.state)
		}
		t.Run(tc.state, func(t *testing.T) { wantHealth(t, hc, h.addr, "node1", tc.phase, tc.reason) })
		release <- struct{}{}
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	waitReady(s.APIAddr())
	t.Run("serving", func(t *testing.T) { wantHealth(t, hc, s.APIAddr(), "node1", "serving", "") })

	// A gRPC health Watch sees the change.
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	events := grpchealth.NewClient(hc, "https://"+s.APIAddr(), connect.WithGRPC()).Watch(wctx, &grpchealth.CheckRequest{})
	if ev := <-events; ev.Err != nil || ev.Response.Status != grpchealth.StatusServing {
		t.Fatalf("first watch event %+v; want serving", ev)
	}
	server.SealHSM(s)
	if ev := <-events; ev.Err != nil || ev.Response.Status != grpchealth.StatusNotServing {
		t.Fatalf("watch event after sealing %+v; want not serving", ev)
	}
	stopWatch()
	t.Run("sealed", func(t *testing.T) { wantHealth(t, hc, s.APIAddr(), "node1", "serving", "the HSM is sealed") })

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if h := <-stops; h.state != "closing" {
		t.Fatalf("held at %s; want closing", h.state)
	}
	t.Run("closing", func(t *testing.T) { wantHealth(t, hc, s.APIAddr(), "node1", "closing", "shutting down") })
	release <- struct{}{}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestPartitionedFollowerIsNotReady: a follower cut off from its peers
// stays live but stops being ready once it cannot confirm its state with
// a leader within its staleness bound, and is ready again after the heal.
func TestPartitionedFollowerIsNotReady(t *testing.T) {
	c, fn := startFaultyCluster(t)
	hc := noCertHTTP(t, c.adminDir)
	n3 := c.nodes[2].APIAddr()
	ready := func(want bool) func() error {
		return func() error {
			if h := getHealth(t, hc, n3, "/v1/health/ready"); (h.code == http.StatusOK) != want {
				return fmt.Errorf("ready is %+v", h)
			}
			return nil
		}
	}
	waitFor(t, "n3 is ready", 10*time.Second, ready(true))
	wantHealth(t, hc, n3, "n3", "serving", "")

	fn.Isolate("n3", "n1", "n2")
	waitFor(t, "the cut-off n3 is not ready", 10*time.Second, ready(false))
	h := getHealth(t, hc, n3, "/v1/health/ready")
	why := strings.Join(h.Reasons, "; ")
	if !strings.Contains(why, "no raft leader is known") && !strings.Contains(why, "longer than its staleness bound of 1s") {
		t.Fatalf("not ready because %q; want a lost leader or a lapsed bound", why)
	}
	if st, err := grpcHealth(t, hc, n3, ""); err != nil || st != grpchealth.StatusNotServing {
		t.Errorf("gRPC health: %v, %v; want not serving", st, err)
	}
	if h := getHealth(t, hc, n3, "/v1/health/live"); h.code != http.StatusOK {
		t.Errorf("live: %+v", h)
	}

	fn.Heal()
	waitFor(t, "n3 is ready after the heal", 30*time.Second, ready(true))
}
