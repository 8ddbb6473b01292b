package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/raft"
)

// HSM is what the cluster needs from the node's HSM.
type HSM interface {
	GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) ([]byte, error)
	Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error)
	ExportDomain(ctx context.Context, recipientPub []byte, info []byte) ([]byte, error)
}

// Every backend serves the cluster.
var _ HSM = hsm.Backend(nil)

// Config configures a Cluster.
type Config struct {
	NodeID string
	// APIAddr is this node's API address, host:port, as peers dial it.
	APIAddr string
	Region  string
	Raft    *raft.Node
	FSM     *fsm.FSM
	HSM     HSM
	// PeerTLS is the client configuration for calling other nodes (it
	// presents this node's certificate and accepts only node certificates).
	PeerTLS *tls.Config
	// PeerTLSFunc, if set, returns the client configuration in force at
	// each dial instead of PeerTLS: the CAs a node trusts change during a
	// CA rotation.
	PeerTLSFunc func() *tls.Config
	// NodeCertTTL is the lifetime of the certificates Join issues; zero
	// means a year.
	NodeCertTTL time.Duration
	// NodeCert, if set, returns the node certificate in force (it changes
	// when the node renews it); Status reports its expiry.
	NodeCert func() *x509.Certificate
	// Dial, if set, opens connections to peers (TLS runs on top); tests
	// inject faults through it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HoldTimeout bounds how long a request waits for a leader before it
	// fails with a retryable error; zero means 5s. A request's own earlier
	// deadline wins.
	HoldTimeout time.Duration
	Now         func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger
	// Observer, if set, is told of every call forwarded to the leader
	// (metrics).
	Observer Observer
	// Propagation, if set, returns the simulated propagation delay in
	// force on this node and its source ("cluster" or "flag"), for Status.
	Propagation func() (time.Duration, string)
	// RewrapBatch is how many EKTs one re-wrap command carries during a
	// domain-key rotation; zero means 64.
	RewrapBatch int
	// RewrapHold, if set, is asked before each re-wrap batch with the
	// count of batches applied so far; true holds re-wrapping (tests
	// stop a rotation in the middle).
	RewrapHold func(batches int) bool
	// BeforeRetire, if set, runs before this node's HSM destroys a
	// retired domain key, which it still holds: the server re-seals what
	// it keeps on disk under the old key. An error postpones the
	// destruction to the next step.
	BeforeRetire func(ctx context.Context) error
}

// Observer is told of each write ("write") and read index ("read_index")
// this node forwarded to the leader: result is "ok", "not_leader" (the
// callee was no longer the leader; the call is retried),
// "unknown_outcome" or "error", and d the call's time.
type Observer interface {
	Forwarded(kind, result string, d time.Duration)
}

// forwarded tells the observer of a forwarded call that started at start.
func (c *Cluster) forwarded(kind string, start time.Time, err error) {
	if c.cfg.Observer == nil {
		return
	}
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader):
		result = "not_leader"
	case errors.Is(err, raft.ErrUnknownOutcome):
		result = "unknown_outcome"
	default:
		result = "error"
	}
	c.cfg.Observer.Forwarded(kind, result, time.Since(start))
}

// Cluster is this node's membership in the cluster. It is safe for
// concurrent use.
type Cluster struct {
	cfg Config

	mu      sync.Mutex // guards clients
	http    *http.Client
	clients map[string]clusterv1connect.ClusterServiceClient // by API address

	members membership
	rot     rotation
}

// New returns a Cluster.
func New(cfg Config) *Cluster {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HoldTimeout == 0 {
		cfg.HoldTimeout = 5 * time.Second
	}
	if cfg.PeerTLSFunc == nil {
		peer := cfg.PeerTLS
		cfg.PeerTLSFunc = func() *tls.Config { return peer }
	}
	return &Cluster{
		cfg:     cfg,
		http:    &http.Client{Transport: &http.Transport{DialTLSContext: dialTLS(cfg.Dial, cfg.PeerTLSFunc), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}},
		clients: map[string]clusterv1connect.ClusterServiceClient{},
		members: membership{kick: make(chan struct{}, 1)},
		rot:     rotation{kick: make(chan struct{}, 1)},
	}
}

// ErrNoLeader means no leader is known, or its API address is not.
var ErrNoLeader = errors.New("cluster: no leader known")

// leaderClient returns a client for the current leader's ClusterService.
func (c *Cluster) leaderClient() (clusterv1connect.ClusterServiceClient, string, error) {
	id, _ := c.cfg.Raft.Leader()
	if id == "" {
		return nil, "", ErrNoLeader
	}
	n, ok := c.cfg.FSM.Node(id)
	if !ok || n.APIAddr == "" {
		return nil, "", ErrNoLeader
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[n.APIAddr]
	if !ok {
		cl = clusterv1connect.NewClusterServiceClient(c.http, "https://"+n.APIAddr)
		c.clients[n.APIAddr] = cl
	}
	return cl, id, nil
}

// LeaderHint returns the API address of the leader this node last heard
// of, or "" if it knows none. Clients that get a retryable error may go
// there directly.
func (c *Cluster) LeaderHint() string {
	id, _ := c.cfg.Raft.Leader()
	if id == "" {
		return ""
	}
	n, ok := c.cfg.FSM.Node(id)
	if !ok {
		return ""
	}
	return n.APIAddr
}

// Apply proposes cmd: locally on the leader, else forwarded to the leader.
// A forwarded write returns once this node has applied it too. While no
// leader is known it retries for up to HoldTimeout, then returns
// raft.ErrNotLeader (retryable). It implements kms.Log.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HoldTimeout)
	defer cancel()
	for {
		resp, idx, err := c.cfg.Raft.Apply(ctx, cmd)
		if !errors.Is(err, raft.ErrNotLeader) {
			return resp, idx, err
		}
		resp, idx, err = c.forwardApply(ctx, cmd)
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrNotLeader) {
			return resp, idx, err
		}
		if err := pause(ctx); err != nil {
			return nil, 0, raft.ErrNotLeader
		}
	}
}

// pause waits a little before retrying during an election.
func pause(ctx context.Context) error {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Cluster) forwardApply(ctx context.Context, cmd []byte) (any, uint64, error) {
	cl, _, err := c.leaderClient()
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	resp, err := cl.Apply(ctx, &clusterv1.ApplyRequest{Command: cmd, Hops: 1})
	if err != nil {
		err = forwardErr(err)
		c.forwarded("write", start, err)
		return nil, 0, err
	}
	c.forwarded("write", start, nil)
	var r fsm.Result
	if err := json.Unmarshal(resp.Result, &r); err != nil {
		return nil, 0, fmt.Errorf("cluster: forwarded result: %w", err)
	}
	if err := c.cfg.FSM.WaitApplied(ctx, resp.Index); err != nil {
		return nil, 0, err
	}
	return &r, resp.Index, nil
}

// forwardErr maps the error of a forwarded write. Only two errors prove
// that the leader never appended the command, so that Apply may send it
// again: the leader's own "not the leader" answer, and a connection that
// could not even be dialed. Anything else (the leader died or lost
// leadership mid-call, the connection broke, the call timed out) leaves
// the outcome unknown: retrying could apply the command twice, or answer
// a retried RevokeGrant with NotFound after the first one took effect
// (found by the Jepsen harness).
func forwardErr(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeFailedPrecondition:
		return raft.ErrNotLeader
	case connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeInvalidArgument:
		return fmt.Errorf("cluster: leader refused the write: %w", err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ErrNoLeader
	}
	return fmt.Errorf("%w: forwarded write: %v", raft.ErrUnknownOutcome, err)
}

// remoteErr maps a peer's error back to the raft sentinels callers know.
func remoteErr(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeFailedPrecondition:
		return raft.ErrNotLeader
	case connect.CodeAborted:
		return raft.ErrUnknownOutcome
	case connect.CodeUnavailable:
		return ErrNoLeader
	}
	return fmt.Errorf("cluster: leader: %w", err)
}

// ReadIndex returns an index a linearizable read must wait for: from the
// local raft if this node leads, else from the leader, waiting for a leader
// for up to HoldTimeout. It implements kms.ReadIndexer.
func (c *Cluster) ReadIndex(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HoldTimeout)
	defer cancel()
	for {
		idx, err := c.cfg.Raft.ReadIndex(ctx)
		if !errors.Is(err, raft.ErrNotLeader) {
			return idx, err
		}
		cl, _, err := c.leaderClient()
		if err == nil {
			start := time.Now()
			resp, err := cl.ReadIndex(ctx, &clusterv1.ReadIndexRequest{})
			if err == nil {
				c.forwarded("read_index", start, nil)
				return resp.Index, nil
			}
			err = remoteErr(err)
			c.forwarded("read_index", start, err)
			if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, ErrNoLeader) {
				return 0, err
			}
		}
		if err := pause(ctx); err != nil {
			return 0, raft.ErrNotLeader
		}
	}
}

// Promote asks the leader to make this node a voter.
func (c *Cluster) Promote(ctx context.Context) error {
	for {
		cl, _, err := c.leaderClient()
		if err == nil {
			if _, err = cl.Promote(ctx, &clusterv1.PromoteRequest{}); err == nil {
				return nil
			}
			c.cfg.Logger.Debug("promote", "err", err)
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("cluster: promote: %w", err)
		}
	}
}

// dialTLS returns a DialTLSContext for an HTTP transport: it dials with
// dial (nil: net.Dialer) and runs the TLS handshake under the client
// configuration config returns at that moment, with the dialled host as
// the server name, offering h2 and http/1.1.
func dialTLS(dial func(ctx context.Context, network, addr string) (net.Conn, error), config func() *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := config().Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		c := tls.Client(raw, cfg)
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
}
