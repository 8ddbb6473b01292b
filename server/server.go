package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/hashicorp/go-hclog"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/cluster"
	"github.com/trentkms/trent/consistency"
	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/iam"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/raft"
	"github.com/trentkms/trent/rpc"
)

// Server is a running node. Close stops it.
type Server struct {
	cfg     Config
	log     *slog.Logger
	hsm     hsm.Backend
	fsm     *fsm.FSM
	raft    *raft.Node
	cluster *cluster.Cluster
	audit   *audit.Log // nil when Config.AuditOff
	gate    *gate      // every route of http (gate.go)
	http    *http.Server
	ln      net.Listener
	served  chan error
	nodeID  string
	dataDir string
	stopBG  context.CancelFunc // background work (the freshness tracker)
	bgDone  chan struct{}

	gossip *gossipState // see gossip.go
}

// Run starts a node and serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
		return s.Close()
	case err := <-s.served:
		s.Close()
		return fmt.Errorf("API server stopped: %w", err)
	}
}

// Start brings a node up and returns once it serves requests.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	stderr := cfg.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	logger := cfg.Logger
	if logger == nil {
		lvl, _ := parseLevel(cfg.LogLevel)
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := prepareDataDir(dir); err != nil {
		return nil, err
	}
	nodeID, err := resolveNodeID(dir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: logger.With("node", nodeID), nodeID: nodeID, dataDir: dir, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// Bind both listeners first: a joining node must tell the cluster its
	// real addresses, and tests use port 0.
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("API listener: %w", err)
	}
	s.ln = ln
	raftLn, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listener: %w", err)
	}
	apiAddr, raftAddr := ln.Addr().String(), raftLn.Addr().String()

	now := time.Now()
	var p *pki
	joining := !hasRaftState(dir) && len(cfg.Join) > 0
	switch {
	case joining:
		if p, err = s.join(ctx, dir, apiAddr, raftAddr, stderr); err != nil {
			raftLn.Close()
			return nil, err
		}
	case isJoinedNode(dir):
		if p, err = loadJoinedPKI(dir); err != nil {
			raftLn.Close()
			return nil, err
		}
	default:
		// This node created the cluster: its CA key is sealed under its
		// HSM, so the HSM opens first.
		if s.hsm, err = openBackend(cfg, dir, stderr, true); err != nil {
			raftLn.Close()
			return nil, err
		}
		if p, _, err = loadOrCreatePKI(ctx, dir, s.hsm, nodeID, cfg.AccountID, hostsOf(apiAddr, raftAddr), now); err != nil {
			raftLn.Close()
			return nil, err
		}
	}
	if s.hsm == nil { // a node that joined earlier
		if s.hsm, err = openBackend(cfg, dir, stderr, true); err != nil {
			raftLn.Close()
			return nil, err
		}
	}

	s.fsm = fsm.New()
	serverTLS, clientTLS := identity.NodeTLSConfigs(p.pool, p.node)
	timeout := cfg.RaftTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	s.raft, err = raft.Open(raft.Config{
		NodeID: nodeID, Dir: filepath.Join(dir, "raft"), Listener: raftLn,
		ServerTLS: serverTLS, ClientTLS: clientTLS, FSM: s.fsm, Dial: peerDial(cfg.Dial, cfg.PeerDialMap),
		// Only the node that created the cluster (it holds the CA key) may
		// bootstrap; a node that joined waits to be added.
		Bootstrap:        p.ca != nil,
		HeartbeatTimeout: timeout, ElectionTimeout: timeout, LeaderLeaseTimeout: timeout / 2,
		SnapshotInterval: time.Duration(cfg.SnapshotInterval), SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "raft", Level: raftLogLevel(cfg.LogLevel), Output: stderr}),
	})
	if err != nil {
		raftLn.Close()
		if errors.Is(err, raft.ErrStoreLocked) {
			return nil, fmt.Errorf("data dir %s is in use by another Trent node", dir)
		}
		return nil, err
	}
	s.cluster = cluster.New(cluster.Config{NodeID: nodeID, APIAddr: apiAddr, Region: cfg.Region, Raft: s.raft, FSM: s.fsm, HSM: s.hsm,
		PeerTLS: clientTLS, Dial: peerDial(cfg.Dial, cfg.PeerDialMap), Rand: rand.Reader, Logger: s.log})

	// Audit trail (package audit): one record per KMS, IAM, AWS endpoint
	// and cluster call, durable before the call is answered. It opens
	// first: the cluster routes serve (and are audited) from now on.
	if s.audit, err = openAudit(cfg, dir, nodeID, s.log); err != nil {
		return nil, err
	}

	// Every route is mounted through the gate (gate.go); the API must
	// answer peers (forwarded writes, joins) while this node catches up, so
	// the cluster routes come now and the rest later.
	g := newGate(s.fsm.CheckCert, s.cluster.Forming, s.audit, s.log)
	s.gate = g
	s.mountCluster(g, cfg.AccountID)
	// The AWS JSON endpoint (SigV4 with IAM access keys) answers at "/",
	// which also catches every path no other route serves: mounted now, it
	// refuses calls until the endpoint is set below.
	aws := awsPolicy()
	awsEndpoint := &lateHandler{}
	aws.ready = awsEndpoint.ready
	g.handle("/", aws, awsEndpoint)
	serving := p.servingCert()
	tlsCfg := identity.ServerTLSConfig(p.pool, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil })
	s.http = newHTTPServer(g.mux, tlsCfg, s.log)
	go func() { s.served <- s.http.ServeTLS(ln, "", "") }()

	// Gossip: a restarted node announces itself (maybe on new addresses)
	// before catching up; see gossip.go.
	s.startGossipEarly(ctx)

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = s.catchUp(wctx)
	if err == nil {
		err = s.settle(wctx, p, apiAddr, raftAddr)
	}
	if err == nil {
		err = s.startMembership(wctx)
	}
	cancel()
	if err != nil {
		return nil, err
	}

	// Reads: every call is admitted under the consistency it asks for
	// (docs/consistency.md); the tracker stays fresh in the background.
	reads, err := consistency.New(consistency.Config{NodeID: nodeID, MaxStaleness: time.Duration(cfg.MaxStaleness),
		Reads: s.cluster, Store: s.fsm, UnsafeSkipFreshness: cfg.UnsafeSkipFreshness, Logger: s.log})
	if err != nil {
		return nil, err
	}
	if cfg.UnsafeSkipFreshness {
		s.log.Warn("UNSAFE: bounded reads are served with no freshness check (--unsafe-skip-freshness); for the Jepsen canary only")
	}
	var bg context.Context
	bg, s.stopBG = context.WithCancel(context.Background())
	s.bgDone = make(chan struct{})
	go func() { defer close(s.bgDone); reads.Run(bg) }()

	svc, err := kms.New(kms.Config{Region: cfg.Region, Store: s.fsm, Log: s.cluster, Reads: reads, HSM: s.hsm, Logger: s.log})
	if err != nil {
		return nil, err
	}
	g.connect("", kmsPolicy(), func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return rpc.NewHandler(svc, rpc.Options{NodeID: nodeID, Reads: reads, LeaderHint: s.cluster.LeaderHint,
			Interceptors: ics, HandlerOptions: limits})
	})

	// Every node can sign: the CA key is replicated sealed (see cluster).
	ca, err := s.cluster.CA(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	iamSvc, err := iam.New(iam.Config{Store: s.fsm, Log: s.cluster, HSM: s.hsm, CA: ca, Logger: s.log, Explainer: svc,
		AdminAccount: s.cfg.AccountID})
	if err != nil {
		return nil, err
	}
	g.connect("", iamPolicy(), func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return iam.NewHandler(iamSvc, append([]connect.HandlerOption{
			connect.WithInterceptors(append(ics, rpc.Interceptor(nodeID, reads, s.cluster.LeaderHint))...)}, limits...)...)
	})
	// The AWS endpoint; the more specific Connect paths win over "/".
	awsEndpoint.set(awsapi.NewHandler(rpc.Service(svc), awsCredentials{iamSvc.AccessKeys()},
		awsapi.Options{Region: cfg.Region, NodeID: nodeID, Logger: s.log, Reads: reads, LeaderHint: s.cluster.LeaderHint,
			Audit: s.awsAuditor(), MaxBodyBytes: aws.maxBytes}))

	g.connect("", healthPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpchealth.NewHandler(grpchealth.NewStaticChecker(kmsv1connect.KeyManagementServiceName, iamv1connect.IdentityServiceName),
			limits...)
	})
	reflector := grpcreflect.NewStaticReflector(kmsv1connect.KeyManagementServiceName, iamv1connect.IdentityServiceName)
	g.connect("", reflectionPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpcreflect.NewHandlerV1(reflector, limits...)
	})
	g.connect("", reflectionPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpcreflect.NewHandlerV1Alpha(reflector, limits...)
	})

	s.log.Info("ready", "api", "https://"+ln.Addr().String(), "raft", s.raft.Addr(), "data_dir", dir)
	fmt.Fprintf(stderr, "Trent node %s is serving on https://%s. Try: go run ./cmd/trent kms create-key --data-dir %s\n",
		nodeID, apiAddr, cfg.DataDir)
	return s, nil
}

// awsCredentials adapts IAM's access keys to the AWS endpoint.
type awsCredentials struct{ keys *iam.AccessKeys }

func (c awsCredentials) Lookup(ctx context.Context, id string) ([]byte, identity.Principal, error) {
	secret, p, err := c.keys.Lookup(ctx, id)
	if errors.Is(err, iam.ErrUnknownAccessKey) {
		err = awsapi.ErrUnknownAccessKey
	}
	return secret, p, err
}

// catchUp waits until this node's state machine reflects every entry
// committed before it started. Raft replays committed entries only after
// the leader commits an entry of its own term, so the node commits a Noop
// command (on a follower, through the leader) and waits for its FSM to
// apply it; until then it serves no KMS call.
func (s *Server) catchUp(ctx context.Context) error {
	noop, err := fsm.Encode(&fsm.Command{Op: fsm.OpNoop})
	if err != nil {
		return err
	}
	for {
		if err := s.raft.WaitLeader(ctx); err != nil {
			return fmt.Errorf("no raft leader within 30s: %w", err)
		}
		_, idx, err := s.cluster.Apply(ctx, noop)
		if err == nil {
			if err := s.fsm.WaitApplied(ctx, idx); err != nil {
				return fmt.Errorf("state machine did not catch up: %w", err)
			}
			return nil
		}
		if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrUnknownOutcome) {
			return fmt.Errorf("commit start-up barrier: %w", err)
		}
		select { // leadership is still settling
		case <-ctx.Done():
			return fmt.Errorf("commit start-up barrier: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// settle records this node in the replicated state once it has caught up:
// the node that created the cluster replicates the sealed CA, every node
// registers its addresses, and a non-voter asks to be promoted.
func (s *Server) settle(ctx context.Context, p *pki, apiAddr, raftAddr string) error {
	if p.ca != nil && s.fsm.Cluster() == nil {
		info, err := cluster.SealCA(ctx, s.hsm, rand.Reader, newClusterID(), s.cfg.Region, p.ca)
		if err != nil {
			return err
		}
		info.BootstrapExpect = s.cfg.BootstrapExpect // see gossip.go (formingGate)
		if err := s.propose(ctx, &fsm.Command{Op: fsm.OpInitCluster, InitCluster: &fsm.InitCluster{Info: info}}); err != nil {
			return fmt.Errorf("initialize cluster: %w", err)
		}
	}
	// The node's certificate serial is recorded so that removing the node
	// revokes it. Join records a joining node's; this covers the first
	// node's (issued locally), a certificate reissued at start, and
	// clusters from before serials were recorded.
	leaf, err := x509.ParseCertificate(p.node.Certificate[0])
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	serial := leaf.SerialNumber.Text(16)
	if n, ok := s.fsm.Node(s.nodeID); !ok || n != s.selfInfo() || !slices.Contains(s.fsm.NodeCerts(s.nodeID), serial) {
		if err := s.propose(ctx, &fsm.Command{Op: fsm.OpRegisterNode, RegisterNode: &fsm.RegisterNode{
			Node: s.selfInfo(), CertSerial: serial}}); err != nil {
			return fmt.Errorf("register node: %w", err)
		}
	}
	members, err := s.raft.Members()
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID == s.nodeID && !m.Voter {
			return s.cluster.Promote(ctx)
		}
	}
	return nil
}

func (s *Server) propose(ctx context.Context, cmd *fsm.Command) error {
	b, err := fsm.Encode(cmd)
	if err != nil {
		return err
	}
	resp, _, err := s.cluster.Apply(ctx, b)
	if err != nil {
		return err
	}
	if r := resp.(*fsm.Result); r.Err != nil {
		return r.Err
	}
	return nil
}

func newClusterID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("trent-%x", b)
}

// peerDial returns dial (a plain dialer if nil) sending each address that
// is a key of via to its value instead; nil via changes nothing.
func peerDial(dial func(ctx context.Context, network, addr string) (net.Conn, error), via map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if len(via) == 0 {
		return dial
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := via[addr]; ok {
			addr = to
		}
		return dial(ctx, network, addr)
	}
}

func hasRaftState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "raft", "raft.db"))
	return err == nil
}

// join admits this node to the cluster named by cfg.Join and its token:
// a fresh HSM without a domain key, a node key and CSR, the Join call, then
// the domain key imported into the HSM and the certificates written.
func (s *Server) join(ctx context.Context, dir, apiAddr, raftAddr string, stderr io.Writer) (*pki, error) {
	if s.cfg.JoinToken == "" {
		return nil, errors.New("--join needs --join-token (make one with: trent cluster join-token)")
	}
	h, err := openBackend(s.cfg, dir, stderr, false)
	if err != nil {
		return nil, err
	}
	s.hsm = h
	key, err := identity.NewKeyPair()
	if err != nil {
		return nil, err
	}
	params := cluster.JoinParams{NodeID: s.nodeID, RaftAddr: raftAddr, APIAddr: apiAddr, Key: key, HSMIdentity: h.IdentityPublicKey()}
	var resp *clusterv1.JoinResponse
	var errs []error
	for _, target := range s.cfg.Join {
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err = cluster.RequestJoin(jctx, target, s.cfg.JoinToken, params)
		cancel()
		if err == nil {
			break
		}
		errs = append(errs, err)
	}
	if resp == nil {
		return nil, fmt.Errorf("join failed: %w", errors.Join(errs...))
	}
	if resp.Region != s.cfg.Region {
		return nil, fmt.Errorf("the cluster's region is %s; start this node with --region %s", resp.Region, resp.Region)
	}
	if err := h.ImportDomain(ctx, resp.DomainToken, []byte(s.nodeID)); err != nil {
		return nil, fmt.Errorf("import domain key: %w", err)
	}
	kp, err := identity.EncodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(filepath.Join(dir, "node"), map[string][]byte{"cert.pem": identity.EncodeCertPEM(resp.NodeCertificate), "key.pem": kp}); err != nil {
		return nil, err
	}
	if err := writeFiles(filepath.Join(dir, "ca"), map[string][]byte{"ca.pem": resp.CaCertificate}); err != nil {
		return nil, err
	}
	s.log.Info("joined cluster", "cluster", resp.ClusterId)
	return loadJoinedPKI(dir)
}

// APIAddr returns the address the API listens on.
func (s *Server) APIAddr() string { return s.ln.Addr().String() }

// AppliedIndex returns the index of the last entry the node's state
// machine has applied.
func (s *Server) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }

// WaitApplied blocks until this node's state machine has applied index
// idx, or ctx ends.
func (s *Server) WaitApplied(ctx context.Context, idx uint64) error {
	return s.fsm.WaitApplied(ctx, idx)
}

// RaftAddr returns the address the raft transport listens on.
func (s *Server) RaftAddr() string { return s.raft.Addr() }

// RaftFirstIndex returns the first index in this node's raft log: entries
// before it were compacted into a snapshot.
func (s *Server) RaftFirstIndex() (uint64, error) { return s.raft.FirstIndex() }

// DataDir returns the node's absolute data directory.
func (s *Server) DataDir() string { return s.dataDir }

// Close stops serving and releases everything, in reverse start order.
func (s *Server) Close() error {
	var errs []error
	if err := s.stopGossip(); err != nil { // leave gossip first: peers see "left"
		errs = append(errs, err)
	}
	if s.http == nil && s.ln != nil {
		s.ln.Close() // failed before serving
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		s.http = nil
	}
	if s.stopBG != nil {
		s.stopBG()
		<-s.bgDone
		s.stopBG = nil
	}
	if s.audit != nil {
		if err := s.audit.Close(); err != nil {
			errs = append(errs, err)
		}
		s.audit = nil
	}
	if s.raft != nil {
		if err := s.raft.Close(); err != nil {
			errs = append(errs, err)
		}
		s.raft = nil
	}
	if s.hsm != nil {
		if err := s.hsm.Close(); err != nil {
			errs = append(errs, err)
		}
		s.hsm = nil
	}
	return errors.Join(errs...)
}

// prepareDataDir creates the data dir and checks that it is usable.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// resolveNodeID returns the node id recorded in the data dir, recording
// the configured one (or node1) on first start.
func resolveNodeID(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		have := strings.TrimSpace(string(b))
		if want != "" && want != have {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q", dir, have, want)
		}
		return have, nil
	case errors.Is(err, os.ErrNotExist):
		if want == "" {
			want = "node1"
		}
		return want, writeFiles(dir, map[string][]byte{"node-id": []byte(want + "\n")})
	default:
		return "", fmt.Errorf("read %s: %w", path, err)
	}
}

// raftLogLevel keeps raft's routine election chatter out of the default
// log; --log-level debug shows it.
func raftLogLevel(level string) hclog.Level {
	if level == "debug" {
		return hclog.Debug
	}
	return hclog.Error
}
