// Package nodes runs a Trent cluster as real node processes for a test:
// it bootstraps the first node, joins the others with one-time tokens,
// and kills (SIGKILL), restarts, pauses (SIGSTOP) and resumes (SIGCONT)
// them, or removes one from the cluster, wipes its data dir and has it
// join again under the same id and addresses. With a netns.Net each node runs in its own network namespace;
// without, every node listens on loopback. The processes themselves are
// supervised by package nodeproc, which `trent dev cluster` shares.
package nodes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/jepsen/netns"
	"github.com/trentkms/trent/nodeproc"
)

// Config describes the cluster to start.
type Config struct {
	NodeBin string // the node binary (./cmd/node)
	Dir     string // data dirs and logs go under Dir/<id>
	Nodes   int
	// Net, if not nil, gives every node its own namespace; else nodes
	// listen on 127.0.0.1 from BasePort.
	Net      *netns.Net
	BasePort int
	// Proxy, if not nil (loopback only), gives every directed link its
	// own proxy: each node dials its peers through them (--peer-dial-map).
	Proxy Proxy
	// NodeArgs are extra node flags (e.g. --max-staleness 1s).
	NodeArgs []string
	LogLevel string
	// Log receives progress lines.
	Log func(format string, args ...any)
}

// Proxy makes the proxy through which node from dials addr, an address
// of node to, and returns the proxy's address (proxy.Net).
type Proxy interface {
	Via(from, to int, addr string) (string, error)
}

// Node is one node process.
type Node struct {
	ID       string
	Index    int
	APIAddr  string
	RaftAddr string
	// GossipAddr is set on loopback only, where the nodes share one
	// address; in a namespace each node keeps the default.
	GossipAddr string
	// peerMap is the --peer-dial-map value: peers' addresses to proxies.
	peerMap string
	DataDir string
	LogPath string

	mu     sync.Mutex
	proc   *nodeproc.Process // the current process, nil before the first start
	paused bool
	// wiped: removed from the cluster, data dir deleted; it comes back
	// only by joining again (started plain, it would found a new cluster
	// or wait forever to be added).
	wiped bool
}

// Cluster is a running cluster.
type Cluster struct {
	cfg   Config
	Nodes []*Node
	// AdminDir holds the admin credentials: ca.pem, cert.pem, key.pem.
	AdminDir string
	http     *http.Transport
}

// Start starts the cluster and waits until every node is a voter.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	c := &Cluster{cfg: cfg}
	for i := 0; i < cfg.Nodes; i++ {
		n := &Node{ID: fmt.Sprintf("n%d", i+1), Index: i, DataDir: filepath.Join(cfg.Dir, fmt.Sprintf("n%d", i+1))}
		if cfg.Net != nil {
			n.APIAddr, n.RaftAddr = net.JoinHostPort(cfg.Net.Addr(i), "7700"), net.JoinHostPort(cfg.Net.Addr(i), "7701")
		} else {
			n.APIAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.BasePort+10*i))
			n.RaftAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.BasePort+10*i+1))
			n.GossipAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.BasePort+10*i+2))
		}
		n.LogPath = filepath.Join(n.DataDir, "node.log")
		c.Nodes = append(c.Nodes, n)
	}
	if cfg.Proxy != nil && cfg.Net == nil {
		if err := setPeerMaps(c.Nodes, cfg.Proxy); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	if err := c.start(ctx, c.Nodes[0], nil); err != nil {
		return nil, err
	}
	// The admin credentials live outside every data dir: n1 may be wiped.
	c.AdminDir = filepath.Join(cfg.Dir, "admin")
	if err := copyDir(filepath.Join(c.Nodes[0].DataDir, "admin"), c.AdminDir); err != nil {
		return nil, fmt.Errorf("admin credentials: %w", err)
	}
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	c.http = tr
	for _, n := range c.Nodes[1:] {
		var tok string
		err := poll(ctx, 30*time.Second, func() error {
			r, err := c.clusterClient(c.Nodes[0]).CreateJoinToken(ctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: 600})
			if err != nil {
				return err
			}
			tok = r.Token
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("join token for %s: %w", n.ID, err)
		}
		if err := c.start(ctx, n, []string{"--join", c.Nodes[0].APIAddr, "--join-token", tok}); err != nil {
			return nil, err
		}
	}
	err = poll(ctx, 60*time.Second, func() error {
		r, err := c.clusterClient(c.Nodes[0]).Status(ctx, &clusterv1.StatusRequest{})
		if err != nil {
			return err
		}
		voters := 0
		for _, s := range r.Nodes {
			if s.Voter {
				voters++
			}
		}
		if voters != cfg.Nodes {
			return fmt.Errorf("%d of %d voters", voters, cfg.Nodes)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %d voters: %w", cfg.Nodes, err)
	}
	ok = true
	return c, nil
}

// setPeerMaps gives every node a proxy for each address of each peer and
// the --peer-dial-map that sends it there.
func setPeerMaps(nodes []*Node, p Proxy) error {
	for _, n := range nodes {
		var pairs []string
		for _, peer := range nodes {
			if peer == n {
				continue
			}
			for _, addr := range []string{peer.APIAddr, peer.RaftAddr} {
				via, err := p.Via(n.Index, peer.Index, addr)
				if err != nil {
					return err
				}
				pairs = append(pairs, addr+"="+via)
			}
		}
		n.peerMap = strings.Join(pairs, ",")
	}
	return nil
}

// poll calls f until it succeeds or d passes.
func poll(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// transport is an HTTP/2 transport with the admin's client certificate.
func (c *Cluster) transport() (*http.Transport, error) {
	cfg, err := TLSConfig(filepath.Join(c.AdminDir, "ca.pem"), filepath.Join(c.AdminDir, "cert.pem"), filepath.Join(c.AdminDir, "key.pem"))
	if err != nil {
		return nil, err
	}
	return NewTransport(cfg), nil
}

// TLSConfig loads a CA and a client key pair.
func TLSConfig(ca, cert, key string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", ca)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// NewTransport returns an HTTP/2 transport that fails fast on dead nodes.
func NewTransport(cfg *tls.Config) *http.Transport {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	return &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		Protocols:           &protocols,
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: time.Second,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

// RoundTripper is an HTTP client that sends each request straight to a
// transport (connect.HTTPClient).
type RoundTripper struct{ RT http.RoundTripper }

// Do sends req.
func (r RoundTripper) Do(req *http.Request) (*http.Response, error) { return r.RT.RoundTrip(req) }

// BaseURL is the URL of a node's API.
func (n *Node) BaseURL() string { return "https://" + n.APIAddr }

func (c *Cluster) clusterClient(n *Node) clusterv1connect.ClusterServiceClient {
	return clusterv1connect.NewClusterServiceClient(RoundTripper{c.http}, n.BaseURL())
}

// start starts n's process with extra args and waits until it serves.
func (c *Cluster) start(ctx context.Context, n *Node, extra []string) error {
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return err
	}
	args := append([]string{"--data-dir", n.DataDir, "--node-id", n.ID, "--api-addr", n.APIAddr,
		"--raft-addr", n.RaftAddr, "--log-level", c.cfg.LogLevel}, c.cfg.NodeArgs...)
	if n.GossipAddr != "" {
		args = append(args, "--gossip-addr", n.GossipAddr)
	}
	if n.peerMap != "" {
		args = append(args, "--peer-dial-map", n.peerMap)
	}
	args = append(args, extra...)
	var cmd *exec.Cmd
	if c.cfg.Net != nil {
		cmd = c.cfg.Net.Command(n.Index, c.cfg.NodeBin, args...)
	} else {
		cmd = exec.Command(c.cfg.NodeBin, args...)
	}
	header := fmt.Sprintf("=== jepsen: starting %s at %s\n", n.ID, time.Now().UTC().Format(time.RFC3339Nano))
	p, err := nodeproc.Start(cmd, n.LogPath, header)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.mu.Lock()
	n.proc, n.paused = p, false
	n.mu.Unlock()
	c.cfg.Log("started %s (pid %d) on %s", n.ID, p.PID(), n.APIAddr)
	err = p.WaitServing(ctx, 60*time.Second)
	switch {
	case errors.Is(err, nodeproc.ErrExited):
		return fmt.Errorf("%s exited during start; see %s", n.ID, n.LogPath)
	case errors.Is(err, nodeproc.ErrNotServing):
		return fmt.Errorf("%s is not serving yet; see %s", n.ID, n.LogPath)
	}
	return err
}

// process is n's current process, or nil.
func (n *Node) process() *nodeproc.Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// signal sends sig to n's process if it runs.
func (n *Node) signal(sig syscall.Signal) (bool, error) {
	p := n.process()
	if p == nil {
		return false, nil
	}
	return p.Signal(sig)
}

// Running says whether n's process is alive (paused counts as alive).
func (n *Node) Running() bool {
	p := n.process()
	return p != nil && p.Running()
}

// Paused says whether n is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// PID is n's current process id.
func (n *Node) PID() int {
	if p := n.process(); p != nil {
		return p.PID()
	}
	return 0
}

func (n *Node) wait(d time.Duration) bool {
	p := n.process()
	return p == nil || p.Wait(d)
}

// Kill kills node i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	n := c.Nodes[i]
	ok, err := n.signal(syscall.SIGKILL)
	if !ok || err != nil {
		return err
	}
	if !n.wait(10 * time.Second) {
		return fmt.Errorf("%s did not exit after SIGKILL", n.ID)
	}
	return nil
}

// Restart starts node i again if it is not running; it rejoins with the
// raft state in its data dir (a wiped node joins again: see Rejoin).
func (c *Cluster) Restart(ctx context.Context, i int) error {
	n := c.Nodes[i]
	if n.Running() {
		return nil
	}
	n.mu.Lock()
	wiped := n.wiped
	n.mu.Unlock()
	if wiped {
		return c.Rejoin(ctx, i)
	}
	return c.start(ctx, n, nil)
}

// Wipe removes node i from the cluster (ClusterService.RemoveNode through
// another member), kills it with SIGKILL and deletes its data dir (the
// log stays). Rejoin brings it back.
func (c *Cluster) Wipe(ctx context.Context, i int) error {
	n := c.Nodes[i]
	n.mu.Lock()
	n.wiped = true
	n.mu.Unlock()
	rerr := c.remove(ctx, i)
	if err := c.Kill(i); err != nil {
		return err
	}
	if err := wipeDir(n.DataDir); err != nil {
		return err
	}
	return rerr
}

// remove removes node i from the cluster through another running member,
// retrying for up to 30s; a node that is no member is removed already.
func (c *Cluster) remove(ctx context.Context, i int) error {
	attempt := 0
	err := poll(ctx, 30*time.Second, func() error {
		attempt++
		via := c.other(i, attempt)
		if via == nil {
			return errors.New("no other node runs")
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.clusterClient(via).RemoveNode(cctx, &clusterv1.RemoveNodeRequest{NodeId: c.Nodes[i].ID})
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", c.Nodes[i].ID, err)
	}
	return nil
}

// other returns a running, unpaused node other than i, rotating with
// attempt, or nil.
func (c *Cluster) other(i, attempt int) *Node {
	for k := range c.Nodes {
		n := c.Nodes[(i+attempt+k)%len(c.Nodes)]
		if n.Index != i && n.Running() && !n.Paused() {
			return n
		}
	}
	return nil
}

// Rejoin brings a wiped node i back: a fresh one-time join token, then
// the node started on an empty data dir with the same id and addresses,
// joining through a live member (--join, --join-token), as at first start.
// It returns once the node serves and the cluster counts it as a voter.
// A failed attempt is wiped and removed again before the next one.
func (c *Cluster) Rejoin(ctx context.Context, i int) error {
	n := c.Nodes[i]
	if n.Running() {
		return nil
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			_ = c.Kill(i)
			if werr := wipeDir(n.DataDir); werr != nil {
				return werr
			}
			if rerr := c.remove(ctx, i); rerr != nil {
				err = errors.Join(err, rerr)
				continue
			}
		}
		if err = c.rejoinOnce(ctx, i, attempt); err == nil {
			n.mu.Lock()
			n.wiped = false
			n.mu.Unlock()
			return nil
		}
		c.cfg.Log("rejoin %s, attempt %d: %v", n.ID, attempt, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("rejoin %s: %w", n.ID, err)
}

func (c *Cluster) rejoinOnce(ctx context.Context, i, attempt int) error {
	n := c.Nodes[i]
	var tok string
	var via *Node
	err := poll(ctx, 30*time.Second, func() error {
		attempt++
		if via = c.other(i, attempt); via == nil {
			return errors.New("no other node runs")
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := c.clusterClient(via).CreateJoinToken(cctx, &clusterv1.CreateJoinTokenRequest{TtlSeconds: 600})
		if err != nil {
			return err
		}
		tok = r.Token
		return nil
	})
	if err != nil {
		return fmt.Errorf("join token: %w", err)
	}
	if err := c.start(ctx, n, []string{"--join", via.APIAddr, "--join-token", tok}); err != nil {
		return err
	}
	return poll(ctx, 60*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r, err := c.clusterClient(n).Status(cctx, &clusterv1.StatusRequest{})
		if err != nil {
			return err
		}
		for _, s := range r.Nodes {
			if s.Id == n.ID && s.Voter {
				return nil
			}
		}
		return fmt.Errorf("%s is not a voter yet", n.ID)
	})
}

// wipeDir deletes everything in a node's data dir but its log.
func wipeDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "node.log" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyDir copies the regular files of src into dst.
func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Pause stops node i with SIGSTOP.
func (c *Cluster) Pause(i int) error {
	n := c.Nodes[i]
	ok, err := n.signal(syscall.SIGSTOP)
	if ok && err == nil {
		n.mu.Lock()
		n.paused = true
		n.mu.Unlock()
	}
	return err
}

// Resume continues node i with SIGCONT.
func (c *Cluster) Resume(i int) error {
	n := c.Nodes[i]
	_, err := n.signal(syscall.SIGCONT)
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	return err
}

// Leader returns the index of the node most nodes name as leader, asking
// every running, unpaused node.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	votes := map[string]int{}
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := c.clusterClient(n).Status(cctx, &clusterv1.StatusRequest{})
		cancel()
		if err != nil {
			continue
		}
		for _, s := range r.Nodes {
			if s.Role == "leader" {
				votes[s.Id]++
			}
		}
	}
	best, bestVotes := -1, 0
	for i, n := range c.Nodes {
		if votes[n.ID] > bestVotes {
			best, bestVotes = i, votes[n.ID]
		}
	}
	if best < 0 {
		return -1, errors.New("no node names a leader")
	}
	return best, nil
}

// Stop resumes paused nodes, sends SIGTERM to all and SIGKILL to those
// still running after 10s, and waits for every process to exit.
func (c *Cluster) Stop() {
	procs := make([]*nodeproc.Process, len(c.Nodes))
	for i, n := range c.Nodes {
		procs[i] = n.process()
		n.mu.Lock()
		n.paused = false
		n.mu.Unlock()
	}
	nodeproc.StopAll(procs, 10*time.Second)
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
}

// LogPaths lists the nodes' log files.
func (c *Cluster) LogPaths() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.LogPath)
	}
	return out
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.Nodes) }

// NodeID is the id of node i.
func (c *Cluster) NodeID(i int) string { return c.Nodes[i].ID }

// HTTP returns an HTTP client with the admin's certificate.
func (c *Cluster) HTTP() RoundTripper { return RoundTripper{c.http} }

// WaitConverged waits until every node reports the same applied index
// twice in a row (the cluster is quiet and caught up), or until d passes.
// It returns that index.
func (c *Cluster) WaitConverged(ctx context.Context, d time.Duration) (uint64, error) {
	var last uint64
	stable := 0
	err := poll(ctx, d, func() error {
		var idx []uint64
		for _, n := range c.Nodes {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			r, err := c.clusterClient(n).Status(cctx, &clusterv1.StatusRequest{})
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", n.ID, err)
			}
			for _, s := range r.Nodes {
				if s.Id == n.ID {
					idx = append(idx, s.AppliedIndex)
				}
			}
		}
		for _, i := range idx {
			if i != idx[0] || len(idx) != len(c.Nodes) {
				stable = 0
				return fmt.Errorf("applied indexes differ: %v", idx)
			}
		}
		if idx[0] == last {
			stable++
		} else {
			last, stable = idx[0], 0
		}
		if stable < 1 {
			return fmt.Errorf("applied index %d not stable yet", last)
		}
		return nil
	})
	return last, err
}
