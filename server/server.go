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
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/grpcreflect"
	"github.com/hashicorp/go-hclog"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/cluster"
	"github.com/trentkms/trent/consistency"
	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/iam"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/lifecycle"
	"github.com/trentkms/trent/metrics"
	"github.com/trentkms/trent/propagation"
	"github.com/trentkms/trent/quota"
	"github.com/trentkms/trent/raft"
	"github.com/trentkms/trent/rpc"
)

// Why [Start] refuses a data dir. The errors that match these (with
// errors.Is) keep their own text, which names the data dir.
var (
	// ErrDataDirInUse: another node has the data dir open.
	ErrDataDirInUse = errors.New("data dir is in use by another Trent node")
	// ErrDataDirOwner: the data dir records a node id other than the
	// configured one.
	ErrDataDirOwner = errors.New("data dir belongs to another node")
)

// markedError is err, which errors.Is also finds to be sentinel.
type markedError struct {
	sentinel, err error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.sentinel, e.err} }

// mark returns err, matching sentinel too, with err's text unchanged.
func mark(sentinel, err error) error { return &markedError{sentinel, err} }

// Server is a running node. Close stops it.
type Server struct {
	cfg Config
	log *slog.Logger
	hsm hsm.Backend
	fsm *fsm.FSM
	// lag keeps the delayed view of a simulated propagation delay
	// (package propagation); its shadow is empty while the mode is off.
	lag     *propagation.Lag
	raft    *raft.Node
	cluster *cluster.Cluster
	audit   *audit.Log // nil when the testing knob AuditOff is set
	gate    *gate      // every route of http (gate.go)
	http    *http.Server
	ln      net.Listener
	served  chan error
	nodeID  string
	dataDir string
	stopBG  context.CancelFunc // background work (the freshness tracker)
	bgDone  chan struct{}
	// reads is the read tracker once the node has caught up (startReads);
	// readiness asks it how fresh the node is.
	reads atomic.Pointer[consistency.Tracker]
	// quotas are the request quotas in force (--request-quotas; Reload
	// changes them).
	quotas *quota.Limiter

	gossip *gossipState // see gossip.go

	// sealing is the state of a sealed start (sealed.go), nil otherwise.
	sealing *sealing

	// level is the log level in force, raftLog raft's logger: Reload
	// changes both. reloadMu serializes reloads.
	level    *slog.LevelVar
	raftLog  hclog.Logger
	reloadMu sync.Mutex
	// metrics is the node's registry and observers (metrics.go); nil
	// with the MetricsOff testing knob.
	metrics   *metrics.Metrics
	metricsLn net.Listener // the --metrics-addr listener, if any

	// forgotten counts the deleted keys this node's HSM was told to
	// forget (forgetKeys).
	forgotten atomic.Uint64

	// closers release what Start acquired; see Start and Close.
	closers []func() error
}

// Start brings a node up and returns once it serves requests. It runs in
// steps; each step that acquires something (a listener, the HSM, raft,
// the audit log, the HTTP server, gossip) registers its release on the
// server's cleanup stack, which Close runs newest first. A failure at any
// step closes the server, so it releases exactly what was acquired.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	knobs := cfg.knobs()
	stderr := knobs.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	level := new(slog.LevelVar) // SIGHUP changes it (Reload)
	lvl, _ := parseLevel(cfg.LogLevel)
	level.Set(lvl)
	logger := knobs.Logger
	if logger == nil {
		logger = newLogger(cfg.LogFormat, stderr, level)
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
	limits, _ := quota.Parse(cfg.RequestQuotas) // Validate parsed it
	s := &Server{cfg: cfg, log: logger.With("node", nodeID), level: level, nodeID: nodeID, dataDir: dir, served: make(chan error, 1),
		quotas: quota.New(limits, knobs.Now)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	raftLn, err := s.listen()
	if err != nil {
		return nil, err
	}
	if err := s.openMetrics(); err != nil {
		return nil, err
	}
	apiAddr, raftAddr := s.ln.Addr().String(), raftLn.Addr().String()
	p, err := s.openIdentity(ctx, dir, apiAddr, raftAddr, s.forPeople(stderr, slog.LevelWarn))
	if err != nil {
		return nil, err
	}
	clientTLS, err := s.openRaft(dir, p, raftLn, stderr)
	if err != nil {
		return nil, err
	}
	ccfg := cluster.Config{NodeID: nodeID, APIAddr: apiAddr, Region: cfg.Region, Raft: s.raft, FSM: s.fsm, HSM: s.hsm,
		PeerTLS: clientTLS(), PeerTLSFunc: clientTLS, NodeCertTTL: s.nodeCertTTL(),
		NodeCert: func() *x509.Certificate { return p.nodeCert().Leaf }, Dial: peerDial(knobs.Dial, cfg.PeerDialMap), Rand: rand.Reader, Logger: s.log}
	ccfg.Now = cfg.clockFileNow() // join token expiry, issued certificates
	if s.metrics != nil {
		ccfg.Observer = s.metrics
	}
	ccfg.Propagation = func() (time.Duration, string) { st := s.lag.Setting(); return st.Delay, st.Source }
	s.rotationConfig(&ccfg, dir)
	s.cluster = cluster.New(ccfg)

	// Audit trail (package audit): one record per KMS, IAM, AWS endpoint
	// and cluster call, durable before the call is answered. It opens
	// first: the cluster routes serve (and are audited) from now on.
	if s.audit, err = openAudit(cfg, dir, nodeID, s.log, s.metrics); err != nil {
		return nil, err
	}
	if s.audit != nil {
		if s.metrics != nil {
			s.metrics.WatchAuditQueue(s.audit.QueueDepth)
			s.metrics.WatchStorage("audit", s.audit.Failing)
		}
		s.onClose(func() error {
			err := s.audit.Close()
			s.audit = nil
			return err
		})
	}

	awsEndpoint, awsMaxBytes := s.serveCluster(p)

	// Gossip: a restarted node announces itself (maybe on new addresses)
	// before catching up; see gossip.go. From here on gossip may run
	// (startMembership starts it if this does not), so its stop is
	// registered now; stopGossip does nothing while it is not running.
	s.onClose(s.stopGossip)
	if s.sealing == nil { // a sealed node cannot open the gossip key
		s.startGossipEarly(ctx)
	}
	s.hold("waiting-for-leader")

	// The start-up barrier, registration and membership share one deadline.
	wctx, cancel := context.WithTimeout(ctx, startupWait)
	err = s.catchUp(wctx)
	if err == nil {
		err = s.settle(wctx, p, apiAddr, raftAddr)
	}
	if err == nil && s.sealing == nil {
		err = s.startStep(wctx, "joining gossip", s.startMembership)
	}
	cancel()
	if err != nil {
		return nil, err
	}

	reads, err := s.startReads()
	if err != nil {
		return nil, err
	}
	serve := func(ctx context.Context) error {
		if err := s.serveServices(ctx, reads, awsEndpoint, awsMaxBytes); err != nil {
			return err
		}
		s.startCertRenewal(p)
		if s.metrics != nil {
			s.metrics.WatchNodeCertificate(func() time.Time { return p.nodeCert().Leaf.NotAfter })
		}
		return nil
	}
	if s.sealing != nil {
		s.startSealed(s.finishSealed(serve), stderr)
		return s, nil
	}
	if err := serve(ctx); err != nil {
		return nil, err
	}
	s.gate.setPhase(phaseServing)
	s.log.Info("ready", "api", "https://"+apiAddr, "raft", s.raft.Addr(), "data_dir", dir)
	fmt.Fprintf(s.forPeople(stderr, slog.LevelInfo), "Trent node %s is serving on https://%s. Try: go run ./cmd/trent kms create-key --data-dir %s\n",
		nodeID, apiAddr, cfg.DataDir)
	return s, nil
}

// startupWait bounds Start's wait for a raft leader, the start-up barrier,
// registration and membership, together.
const startupWait = 60 * time.Second

// onClose registers release as the next step of Close: Close runs the
// registered releases newest first, so a server releases things in the
// reverse of the order it acquired them.
func (s *Server) onClose(release func() error) { s.closers = append(s.closers, release) }

// listen binds the API and raft listeners. Both come first: a joining
// node must tell the cluster its real addresses, and tests use port 0.
func (s *Server) listen() (raftLn net.Listener, err error) {
	ln, err := net.Listen("tcp", s.cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("API listener: %w", err)
	}
	s.ln = ln
	// Once serving, the HTTP server's Shutdown closes ln as well; a
	// second Close only reports that it is closed.
	s.onClose(func() error { ln.Close(); return nil })
	raftLn, err = net.Listen("tcp", s.cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listener: %w", err)
	}
	// raft.Open owns the listener from its call on, and closes it too.
	s.onClose(func() error { raftLn.Close(); return nil })
	return raftLn, nil
}

// openIdentity opens the HSM and the node's certificates: by joining the
// cluster (first start of a joining node), from the data dir (a node that
// joined earlier), or by creating or loading the cluster CA (the node that
// created the cluster, whose CA key is sealed under its HSM, so the HSM
// opens first).
func (s *Server) openIdentity(ctx context.Context, dir, apiAddr, raftAddr string, stderr io.Writer) (p *pki, err error) {
	switch {
	case s.cfg.SealedStart:
		return s.openSealedIdentity(dir)
	case !hasRaftState(dir) && len(s.cfg.Join) > 0:
		return s.join(ctx, dir, apiAddr, raftAddr, stderr)
	case isJoinedNode(dir):
		if p, err = loadJoinedPKI(dir); err != nil {
			return nil, err
		}
		return p, s.openHSM(dir, stderr, true)
	default:
		if err := s.openHSM(dir, stderr, true); err != nil {
			return nil, err
		}
		p, _, err = loadOrCreatePKI(ctx, dir, s.hsm, s.nodeID, s.cfg.AccountID, hostsOf(apiAddr, raftAddr), s.certNow(), s.nodeCertTTL())
		return p, err
	}
}

// openHSM opens the node's HSM backend (see openBackend).
func (s *Server) openHSM(dir string, stderr io.Writer, withDomain bool) error {
	var obs soft.Observer
	if s.metrics != nil {
		obs = s.metrics
	}
	h, err := openBackend(s.cfg, dir, stderr, withDomain, obs)
	if err != nil {
		return err
	}
	s.watchHSM(h)
	s.hsm = h
	s.onClose(h.Close)
	return nil
}

// openRaft opens the state machine and raft on raftLn, and returns the
// TLS configuration for dialing peers.
func (s *Server) openRaft(dir string, p *pki, raftLn net.Listener, stderr io.Writer) (clientTLS func() *tls.Config, err error) {
	s.fsm = fsm.New()
	s.fsm.OnKeysDeleted(s.forgetKeys)
	s.lag = propagation.New(propagation.Config{Live: s.fsm, Delay: time.Duration(s.cfg.SimulatedPropagation),
		Jitter: time.Duration(s.cfg.SimulatedPropagationJitter), Now: s.cfg.knobs().Now, Logger: s.log})
	serverTLS, clientTLS := p.nodeTLSConfigs(s.cfg.knobs().CertNow)
	timeout := s.cfg.knobs().RaftTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	s.raftLog = newRaftLogger(s.cfg.LogFormat, s.cfg.LogLevel, stderr)
	sm := stateMachine{f: s.fsm, lag: s.lag}
	var observer raft.Observer
	if s.metrics != nil {
		sm.snapshots, observer = s.metrics, s.metrics
		s.metrics.WatchStore(s.fsm)
	}
	noop, err := fsm.Encode(&fsm.Noop{})
	if err != nil {
		return nil, err
	}
	s.raft, err = raft.Open(raft.Config{
		NodeID: s.nodeID, Dir: filepath.Join(dir, "raft"), Listener: raftLn, Observer: observer,
		ServerTLS: serverTLS, ClientTLS: clientTLS(), ClientTLSFunc: clientTLS, FSM: sm, Dial: peerDial(s.cfg.knobs().Dial, s.cfg.PeerDialMap),
		// Only the node that created the cluster (it holds the CA key) may
		// bootstrap; a node that joined waits to be added.
		Bootstrap:        p.ca != nil,
		Noop:             noop,
		HeartbeatTimeout: timeout, ElectionTimeout: timeout, LeaderLeaseTimeout: timeout / 2,
		SnapshotInterval: time.Duration(s.cfg.SnapshotInterval), SnapshotThreshold: s.cfg.SnapshotThreshold, TrailingLogs: s.cfg.TrailingLogs,
		Logger: s.raftLog,
	})
	if err != nil {
		if errors.Is(err, raft.ErrStoreLocked) {
			return nil, mark(ErrDataDirInUse, fmt.Errorf("data dir %s is in use by another Trent node", dir))
		}
		return nil, err
	}
	if s.metrics != nil {
		s.metrics.WatchRaft(s.raft)
		s.metrics.WatchStorage("raft", s.raft.StorageFailing)
	}
	s.onClose(func() error {
		err := s.raft.Close()
		s.raft = nil
		return err
	})
	return clientTLS, nil
}

// serveCluster starts the HTTP server with the cluster routes. Every route
// is mounted through the gate (gate.go); the API must answer peers
// (forwarded writes, joins) while this node catches up, so the cluster
// routes come now and the rest in serveServices. The AWS JSON endpoint
// (SigV4 with IAM access keys) answers at "/", which also catches every
// path no other route serves: mounted now, it refuses calls until
// serveServices sets the endpoint it returns.
func (s *Server) serveCluster(p *pki) (awsEndpoint *lateHandler, awsMaxBytes int64) {
	h := s.hsm
	gc := gateConfig{nodeID: s.nodeID, revoked: s.fsm.CheckCertOf, forming: s.cluster.Forming,
		sealed:     func() bool { return s.stillSealed() || h.DomainKeyID() == [16]byte{} },
		leaderHint: s.otherLeader, adminAccount: s.cfg.AccountID, audit: s.audit, log: s.log}
	if s.metrics != nil {
		gc.requests = s.metrics
	}
	g := newGate(gc)
	s.gate = g
	s.mountCluster(g, s.cfg.AccountID)
	s.mountNode(g)
	s.mountHealth(g)
	if s.metrics != nil {
		g.handle(metricsPath, metricsPolicy(), s.metrics.Handler())
	}
	g.handle(snapshotPath, snapshotPolicy(), http.HandlerFunc(s.serveSnapshot))
	if s.cfg.Pprof {
		g.handle(pprofPath, pprofPolicy(), http.HandlerFunc(servePprof))
	}
	aws := awsPolicy()
	awsEndpoint = &lateHandler{}
	g.handle("/", aws, awsEndpoint)
	tlsCfg := identity.ServerTLSConfig(nil, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.serving.Load(), nil })
	tlsCfg.Time = s.cfg.knobs().CertNow
	tlsCfg = p.withClientCAs(tlsCfg)
	warm := newWarmHandlers(g.mux, maxWarmWorkers)
	s.http = newHTTPServer(warm, tlsCfg, s.log)
	ln := s.ln
	go func() { s.served <- s.http.ServeTLS(ln, "", "") }()
	s.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		warm.close()
		s.http = nil
		// The read tracker (startReads) stops once requests have drained,
		// as it always has: it is released with the server that uses it.
		s.stopReads()
		return err
	})
	return awsEndpoint, aws.maxBytes
}

// startReads starts the read tracker: every call is admitted under the
// consistency it asks for (docs/consistency.md), and the tracker stays
// fresh in the background until serveCluster's release stops it.
func (s *Server) startReads() (*consistency.Tracker, error) {
	rc := consistency.Config{NodeID: s.nodeID, MaxStaleness: time.Duration(s.cfg.MaxStaleness),
		Reads: s.cluster, Store: s.fsm, UnsafeSkipFreshness: s.cfg.UnsafeSkipFreshness, Logger: s.log, Propagation: s.lag}
	if s.cfg.UnsafeClockFreshness {
		s.log.Warn("UNSAFE: bounded reads are timed on the time of day (--unsafe-clock-freshness); for the Jepsen canary only")
		rc.Now = s.cfg.knobs().Now
	}
	if s.metrics != nil {
		rc.Observer = s.metrics
	}
	reads, err := consistency.New(rc)
	if err != nil {
		return nil, err
	}
	if s.metrics != nil {
		s.metrics.WatchReads(reads)
		s.metrics.WatchPropagation(func() time.Duration { return s.lag.Setting().Delay })
	}
	if s.cfg.UnsafeSkipFreshness {
		s.log.Warn("UNSAFE: bounded reads are served with no freshness check (--unsafe-skip-freshness); for the Jepsen canary only")
	}
	s.reads.Store(reads)
	var bg context.Context
	bg, s.stopBG = context.WithCancel(context.Background())
	s.bgDone = make(chan struct{})
	go func() { defer close(s.bgDone); reads.Run(bg) }()
	return reads, nil
}

// stopReads stops the read tracker, if it runs.
func (s *Server) stopReads() {
	if s.stopBG != nil {
		s.stopBG()
		<-s.bgDone
		s.stopBG = nil
	}
}

// otherLeader is the leader's API address when the leader is another
// node: a refusal that says retry elsewhere does not send the client back.
func (s *Server) otherLeader() string {
	if l := s.cluster.LeaderHint(); l != s.APIAddr() {
		return l
	}
	return ""
}

// hold calls the Hold testing knob, if set, as the node enters state.
func (s *Server) hold(state string) {
	if h := s.cfg.knobs().Hold; h != nil {
		h(state, s.ln.Addr().String())
	}
}

// serveServices mounts the KMS, IAM, AWS and reflection services (health
// serves from the start: serveCluster).
func (s *Server) serveServices(ctx context.Context, reads *consistency.Tracker, awsEndpoint *lateHandler, awsMaxBytes int64) error {
	g, nodeID := s.gate, s.nodeID
	knobs := s.cfg.knobs()
	// Dated work is timed so that no jump of the time of day hastens it.
	date, due := s.cfg.timedWork()
	knobs.Now = due
	// Every node can sign: the CA key is replicated sealed (see cluster);
	// after a CA rotation, with the new CA (catrust.go). It is opened
	// before anything is mounted, so that a sealed node's unseal can
	// retry this after a failure (sealed.go).
	ca := &liveCA{s: s}
	if _, err := ca.ca(); err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	h := s.hsm
	if sh, ok := h.(*sealedHSM); ok {
		h = sh.backend() // kms asks the backend what it implements
	}
	svc, err := kms.New(kms.Config{Region: s.cfg.Region, Store: s.fsm, Log: s.cluster, Reads: reads, HSM: h, Logger: s.log,
		Now: date, Day: time.Duration(s.cfg.UnsafeLifecycleDay)})
	if err != nil {
		return err
	}
	// Reads admitted to the delayed view of a simulated propagation delay
	// run on a service over it (rpc.Views).
	delayed, err := kms.New(kms.Config{Region: s.cfg.Region, Store: s.lag.Shadow(), Log: s.cluster, Reads: reads, HSM: s.hsm, Logger: s.log,
		Now: knobs.Now, Day: time.Duration(s.cfg.UnsafeLifecycleDay)})
	if err != nil {
		return err
	}
	if s.cfg.UnsafeLifecycleDay != 0 {
		s.log.Warn("UNSAFE: a day of deletion windows and rotation periods lasts " + time.Duration(s.cfg.UnsafeLifecycleDay).String() +
			" (--unsafe-lifecycle-day); for test harnesses only")
	}
	if err := s.startLifecycle(svc, knobs); err != nil {
		return err
	}
	s.startDomainRotation(knobs)
	g.connect("", kmsPolicy(), func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return rpc.NewHandler(svc, rpc.Options{NodeID: nodeID, Reads: reads, LeaderHint: s.cluster.LeaderHint, Delayed: delayed,
			Interceptors: ics, HandlerOptions: limits, Quota: s.quotas})
	})

	iamSvc, err := iam.New(iam.Config{Store: s.fsm, Log: s.cluster, HSM: h, CA: ca, Logger: s.log, Explainer: svc,
		AdminAccount: s.cfg.AccountID})
	if err != nil {
		return err
	}
	g.connect("", iamPolicy(), func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return iam.NewHandler(iamSvc, append([]connect.HandlerOption{
			connect.WithInterceptors(append(ics, rpc.Interceptor(nodeID, reads, s.cluster.LeaderHint))...)}, limits...)...)
	})
	// The AWS endpoint; the more specific Connect paths win over "/".
	awsEndpoint.set(awsapi.NewHandler(rpc.Views(svc, delayed), awsCredentials{iamSvc.AccessKeys()},
		awsapi.Options{Region: s.cfg.Region, NodeID: nodeID, Logger: s.log, Reads: reads, LeaderHint: s.cluster.LeaderHint,
			Audit: s.awsAuditor(), MaxBodyBytes: awsMaxBytes, Quota: s.quotas}))

	reflector := grpcreflect.NewStaticReflector(kmsv1connect.KeyManagementServiceName, iamv1connect.IdentityServiceName)
	g.connect("", reflectionPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpcreflect.NewHandlerV1(reflector, limits...)
	})
	g.connect("", reflectionPolicy(), func(_ []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return grpcreflect.NewHandlerV1Alpha(reflector, limits...)
	})
	return nil
}

// startLifecycle runs the leader's key lifecycle passes (package
// lifecycle) until Close: the tasks are the service's rules for what is
// due.
func (s *Server) startLifecycle(svc *kms.Service, knobs TestingKnobs) error {
	interval := knobs.LifecycleInterval
	if day := time.Duration(s.cfg.UnsafeLifecycleDay); interval == 0 && day > 0 {
		// A shortened day keeps 1,440 passes a day, as a real day has.
		interval = max(day/1440, 20*time.Millisecond)
	}
	r, err := lifecycle.New(lifecycle.Config{Keys: s.fsm, Log: s.cluster, Leader: s.raft, Now: knobs.Now,
		Interval: interval, Logger: s.log, Tasks: []lifecycle.Task{svc.DueRotation, svc.DueDeletion, svc.DueImportExpiry},
		Sweeps: []lifecycle.Sweep{lifecycle.PruneExpiredCerts(s.fsm)}, Applied: s.serviceEvent})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	s.onClose(func() error { cancel(); <-done; return nil })
	return nil
}

// serviceEvent records an automatic rotation or a deletion the leader's
// lifecycle pass made in this node's audit trail, as CloudTrail records
// them: an AwsServiceEvent named for the command (RotateKey, DeleteKey,
// DeleteExpiredKeyMaterial). A certificate prune is logged, not audited
// (it changes no key and no caller asked for it).
// The command has applied; a trail that cannot take the record is logged
// (its failures are sticky and reported by every call that follows).
func (s *Server) serviceEvent(ctx context.Context, cmd fsm.Command, r *fsm.Result, index uint64) {
	if r != nil && r.Pruned > 0 {
		s.log.Info("forgot the records of certificates expired longer than the grace", "records", r.Pruned,
			"grace", fsm.CertPruneGrace, "index", index)
	}
	if s.audit == nil || r == nil || r.Key == nil {
		return
	}
	e := audit.ServiceEvent{Operation: string(cmd.Op()), KeyARN: r.Key.ARN, Account: r.Key.Account, AppliedIndex: index}
	if err := s.audit.RecordServiceEvent(ctx, e); err != nil {
		s.log.Error("audit: cannot record a service event", "event", e.Operation, "key", e.KeyARN, "err", err)
	}
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
	for {
		if err := s.raft.WaitLeader(ctx); err != nil {
			return fmt.Errorf("no raft leader within %s: %w", startupWait, err)
		}
		if phase(s.gate.phase.Load()) == phaseWaitingLeader {
			s.gate.setPhase(phaseCatchingUp)
			s.hold("catching-up")
		}
		_, idx, err := fsm.Apply(ctx, s.cluster, &fsm.Noop{})
		if err == nil {
			if err := s.fsm.WaitApplied(ctx, idx); err != nil {
				return fmt.Errorf("state machine did not catch up: %w", err)
			}
			return nil
		}
		if !barrierRetryable(ctx, err) {
			return fmt.Errorf("commit start-up barrier: %w", err)
		}
		select { // leadership is still settling
		case <-ctx.Done():
			return fmt.Errorf("commit start-up barrier: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// barrierRetryable says whether catchUp proposes its no-op barrier again
// after err: while the start-up wait lasts and err may pass (mayPass). A
// no-op applied twice changes nothing.
func barrierRetryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && mayPass(err)
}

// settle records this node in the replicated state once it has caught up:
// the node that created the cluster replicates the sealed CA, every node
// registers its addresses, and a non-voter asks to be promoted.
//
// A step refused as retryable (a leader elected meanwhile, an outcome
// unknown) is taken again, re-checked against the replicated state, until
// ctx ends: each is idempotent, and the cluster's sealed CA is made once,
// so a repeated InitCluster is the same command.
func (s *Server) settle(ctx context.Context, p *pki, apiAddr, raftAddr string) error {
	var info *fsm.ClusterInfo // the cluster's sealed CA, made once
	return s.startStep(ctx, "registering with the cluster", func(ctx context.Context) error {
		if p.ca != nil && s.fsm.Cluster() == nil && info == nil {
			sealed, err := cluster.SealCA(ctx, s.hsm, rand.Reader, newClusterID(), s.cfg.Region, p.ca)
			if err != nil {
				return err
			}
			sealed.BootstrapExpect = s.cfg.BootstrapExpect // see gossip.go (formingGate)
			info = &sealed
		}
		return s.settleOnce(ctx, p, info)
	})
}

// startStep runs step, a step of the start made of idempotent proposals,
// again while it fails with a refusal that may pass (mayPass),
// until ctx ends. A leader elected during a node's start must not end it.
func (s *Server) startStep(ctx context.Context, what string, step func(context.Context) error) error {
	for {
		err := step(ctx)
		if err == nil || !mayPass(err) {
			return err
		}
		if ctx.Err() == nil {
			s.log.Warn(what+": refused for now; trying again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		return fmt.Errorf("%w (still refused as retryable when the start-up wait ended: %w)", err, ctx.Err())
	}
}

// mayPass says whether a start step's failure may pass if the step is
// taken again: while leadership settles (no leader now, an outcome
// unknown: leadership changed in flight), a single proposal's own
// deadline (the cluster's hold timeout, a few seconds; a restarted node
// still applying a long log, found by the Jepsen harness, grants/kill
// seed 104), or the cluster's retryable refusal (Unavailable). Callers
// stop when their own wait ends.
func mayPass(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrUnknownOutcome) ||
		errors.Is(err, context.DeadlineExceeded) || connect.CodeOf(err) == connect.CodeUnavailable
}

// settleOnce is one pass of settle; info, if not nil, is the cluster to
// initialize while the replicated state has none.
func (s *Server) settleOnce(ctx context.Context, p *pki, info *fsm.ClusterInfo) error {
	if info != nil && s.fsm.Cluster() == nil {
		if err := s.propose(ctx, &fsm.InitCluster{Info: *info}); err != nil {
			return fmt.Errorf("initialize cluster: %w", err)
		}
	}
	// The node's certificate serial is recorded so that removing the node
	// revokes it. Join records a joining node's; this covers the first
	// node's (issued locally), a certificate reissued at start, and
	// clusters from before serials were recorded.
	serial := p.nodeCert().Leaf.SerialNumber.Text(16)
	if n, ok := s.fsm.Node(s.nodeID); !ok || n != s.selfInfo() || !slices.Contains(s.fsm.NodeCerts(s.nodeID), serial) {
		if err := s.propose(ctx, &fsm.RegisterNode{
			Node: s.selfInfo(), CertSerial: serial}); err != nil {
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

// propose replicates cmd through the leader. A refusal at apply time is
// the *fsm.Rejection.
func (s *Server) propose(ctx context.Context, cmd fsm.Command) error {
	_, _, err := fsm.Apply(ctx, s.cluster, cmd)
	return err
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
	if err := s.openHSM(dir, stderr, false); err != nil {
		return nil, err
	}
	h := s.hsm
	key, err := identity.NewKeyPair()
	if err != nil {
		return nil, err
	}
	params := cluster.JoinParams{NodeID: s.nodeID, RaftAddr: raftAddr, APIAddr: apiAddr, Key: key, HSMIdentity: h.IdentityPublicKey()}
	// A refusal that may pass (the cluster electing a leader, a member not
	// up yet) is asked again for the start-up wait; found by the Jepsen
	// harness (grants/rotate-domain-key, seed 8210).
	jctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	resp, err := cluster.RequestJoinAny(jctx, s.cfg.Join, s.cfg.JoinToken, params, func(err error) {
		s.log.Warn("join refused for now; asking again", "err", err)
	})
	if err != nil {
		return nil, fmt.Errorf("join failed: %w", err)
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
	caPEM := resp.CaCertificate
	if len(resp.CaBundle) > 0 { // every CA trusted during a CA rotation
		caPEM = resp.CaBundle
	}
	if err := writeFiles(filepath.Join(dir, "ca"), map[string][]byte{"ca.pem": caPEM}); err != nil {
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

// Close stops serving and releases everything Start acquired, in reverse
// start order. From its first step on, the API answers only the cluster
// routes (peers); every other call is refused as retryable. Then gossip (peers see "left"), then the HTTP server and
// read tracker, the audit log, raft, the HSM and the listeners. It is
// idempotent.
func (s *Server) Close() error {
	if s.gate != nil && phase(s.gate.phase.Load()) != phaseClosing {
		s.gate.setPhase(phaseClosing)
		s.hold("closing")
	}
	s.closeSealing() // an unseal running adds closers
	closers := s.closers
	s.closers = nil
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
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
			return "", mark(ErrDataDirOwner, fmt.Errorf("data dir %s belongs to node %q, not %q", dir, have, want))
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
