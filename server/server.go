package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/hashicorp/go-hclog"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/raft"
	"github.com/trentkms/trent/rpc"
)

// Server is a running node. Close stops it.
type Server struct {
	cfg     Config
	log     *slog.Logger
	hsm     *soft.HSM
	fsm     *fsm.FSM
	raft    *raft.Node
	http    *http.Server
	ln      net.Listener
	served  chan error
	nodeID  string
	dataDir string
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

	now := time.Now()
	p, _, err := loadOrCreatePKI(dir, nodeID, cfg.AccountID, hostsOf(cfg.APIAddr, cfg.RaftAddr), now)
	if err != nil {
		return nil, err
	}
	if s.hsm, err = openHSM(dir, cfg.HSMPassphraseFile, stderr); err != nil {
		return nil, err
	}

	s.fsm = fsm.New()
	serverTLS, clientTLS := identity.NodeTLSConfigs(p.pool, p.node)
	timeout := cfg.RaftTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	s.raft, err = raft.Open(raft.Config{
		NodeID: nodeID, Dir: filepath.Join(dir, "raft"), BindAddr: cfg.RaftAddr,
		ServerTLS: serverTLS, ClientTLS: clientTLS, FSM: s.fsm, Bootstrap: true,
		HeartbeatTimeout: timeout, ElectionTimeout: timeout, LeaderLeaseTimeout: timeout / 2,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "raft", Level: raftLogLevel(cfg.LogLevel), Output: stderr}),
	})
	if err != nil {
		if errors.Is(err, raft.ErrStoreLocked) {
			return nil, fmt.Errorf("data dir %s is in use by another Trent node", dir)
		}
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = s.catchUp(wctx)
	cancel()
	if err != nil {
		return nil, err
	}

	svc, err := kms.New(kms.Config{Region: cfg.Region, Store: s.fsm, Log: s.raft, Reads: s.raft, HSM: s.hsm, Logger: s.log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	path, h := rpc.NewHandler(svc, rpc.Options{NodeID: nodeID})
	mux.Handle(path, rpc.Authenticate(h))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(kmsv1connect.KeyManagementServiceName)))
	reflector := grpcreflect.NewStaticReflector(kmsv1connect.KeyManagementServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("API listener: %w", err)
	}
	nodeCert := p.node
	tlsCfg := identity.ServerTLSConfig(p.pool, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &nodeCert, nil })
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	s.ln = ln
	s.http = &http.Server{
		Handler:           mux,
		TLSConfig:         tlsCfg,
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() { s.served <- s.http.ServeTLS(ln, "", "") }()

	s.log.Info("ready", "api", "https://"+ln.Addr().String(), "raft", s.raft.Addr(), "data_dir", dir)
	fmt.Fprintf(stderr, "Trent node %s is serving on https://%s. Try: go run ./cmd/trent kms create-key --data-dir %s\n",
		nodeID, ln.Addr(), cfg.DataDir)
	return s, nil
}

// catchUp waits until this node's state machine reflects every entry
// committed before it started. Raft replays committed entries only after
// the leader commits an entry of its own term, so the node commits a Noop
// command and waits for the FSM to apply it; until then it serves nothing.
func (s *Server) catchUp(ctx context.Context) error {
	noop, err := fsm.Encode(&fsm.Command{Op: fsm.OpNoop})
	if err != nil {
		return err
	}
	for {
		if err := s.raft.WaitLeader(ctx); err != nil {
			return fmt.Errorf("no raft leader within 30s: %w", err)
		}
		_, idx, err := s.raft.Apply(ctx, noop)
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

// APIAddr returns the address the API listens on.
func (s *Server) APIAddr() string { return s.ln.Addr().String() }

// AppliedIndex returns the index of the last entry the node's state
// machine has applied.
func (s *Server) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }

// DataDir returns the node's absolute data directory.
func (s *Server) DataDir() string { return s.dataDir }

// Close stops serving and releases everything, in reverse start order.
func (s *Server) Close() error {
	var errs []error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		s.http = nil
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

// openHSM opens the soft HSM, creating it with a fresh domain key on first
// start. Without a passphrase file it runs in dev mode and says so loudly.
func openHSM(dir, passphraseFile string, stderr io.Writer) (*soft.HSM, error) {
	hsmDir := filepath.Join(dir, "hsm")
	if err := os.MkdirAll(hsmDir, 0o700); err != nil {
		return nil, err
	}
	statePath := filepath.Join(hsmDir, "state")
	var u soft.Unsealer
	if passphraseFile != "" {
		pass, err := os.ReadFile(passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("HSM passphrase file: %w", err)
		}
		u = soft.Passphrase([]byte(strings.TrimRight(string(pass), "\r\n")))
	} else {
		keyPath := filepath.Join(hsmDir, "unseal.key")
		u = soft.KeyFile(keyPath, true)
		fmt.Fprintf(stderr, "\n"+
			"  ************************************************************************\n"+
			"  * DEV MODE: the soft HSM unseals itself from %s\n"+
			"  * Anyone who can read this data directory can decrypt every key.\n"+
			"  * For real use, start with --hsm-passphrase-file.\n"+
			"  ************************************************************************\n\n", keyPath)
	}
	if _, err := os.Stat(statePath); errors.Is(err, os.ErrNotExist) {
		h, err := soft.Create(statePath, u)
		if err != nil {
			return nil, fmt.Errorf("create soft HSM: %w", err)
		}
		return h, nil
	}
	h, err := soft.Open(statePath, u)
	if err != nil {
		return nil, fmt.Errorf("unseal soft HSM %s: %w", statePath, err)
	}
	return h, nil
}

// raftLogLevel keeps raft's routine election chatter out of the default
// log; --log-level debug shows it.
func raftLogLevel(level string) hclog.Level {
	if level == "debug" {
		return hclog.Debug
	}
	return hclog.Error
}
