package server

// Sealed start (--sealed-start): the node opens everything but its HSM,
// joins raft and replicates (applying the log needs no HSM), and answers
// every KMS, IAM and AWS call with the gate's retryable "its HSM is
// sealed" refusal until an admin unseals it with trent node unseal, which
// calls NodeService.Unseal on this node with the soft HSM's passphrase or
// the token's user PIN. What needs the HSM waits for the unseal:
//
//   - gossip: the gossip key is replicated sealed under the HSM, so a
//     sealed node is not in gossip (peers see it dead; --dead-server-cleanup
//     would remove it after its delay) and starts gossip when unsealed;
//   - the KMS, IAM and AWS services, the leader's lifecycle passes (a
//     sealed leader runs none) and node certificate renewal start when
//     unsealed;
//   - the cluster CA key: a sealed node uses its certificates as they are
//     on disk (the node that created the cluster does not unseal its CA
//     key, which it needs only to bootstrap), and a sealed leader refuses
//     joins as retryable before it spends their tokens (cluster's Join
//     opens the CA first);
//   - a node's first start cannot be sealed: it creates or receives the
//     domain key.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	nodev1 "github.com/trentkms/trent/gen/trent/node/v1"
	"github.com/trentkms/trent/gen/trent/node/v1/nodev1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/soft"
)

// sealedHSM is the HSM of a node started sealed: every operation fails
// with hsm.ErrSealed until install gives it the opened backend, to which
// it then passes every call.
type sealedHSM struct {
	kind string
	mu   sync.Mutex // install against Close
	b    atomic.Pointer[backendBox]
	shut bool
}

type backendBox struct{ hsm.Backend }

// backend returns the installed backend, or nil while sealed.
func (h *sealedHSM) backend() hsm.Backend {
	if b := h.b.Load(); b != nil {
		return b.Backend
	}
	return nil
}

// install makes b the backend; after Close it closes b instead.
func (h *sealedHSM) install(b hsm.Backend) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shut {
		b.Close()
		return hsm.ErrClosed
	}
	h.b.Store(&backendBox{b})
	return nil
}

func (h *sealedHSM) get() (hsm.Backend, error) {
	if b := h.backend(); b != nil {
		return b, nil
	}
	return nil, hsm.ErrSealed
}

func (h *sealedHSM) Capabilities() hsm.Capabilities {
	if b := h.backend(); b != nil {
		return b.Capabilities()
	}
	return hsm.Capabilities{Name: h.kind}
}

func (h *sealedHSM) GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.GenerateKey(ctx, spec, keyID, versionID)
}

func (h *sealedHSM) Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.Seal(ctx, ref, nonce, aad, plaintext)
}

func (h *sealedHSM) Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, ref, nonce, aad, body)
}

func (h *sealedHSM) MAC(ctx context.Context, label string, msg []byte) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.MAC(ctx, label, msg)
}

func (h *sealedHSM) Random(ctx context.Context, n int) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.Random(ctx, n)
}

// Forget has nothing to forget while sealed: nothing is cached.
func (h *sealedHSM) Forget(ctx context.Context, keyID [16]byte) error {
	if b := h.backend(); b != nil {
		return b.Forget(ctx, keyID)
	}
	return nil
}

func (h *sealedHSM) IdentityPublicKey() []byte {
	if b := h.backend(); b != nil {
		return b.IdentityPublicKey()
	}
	return nil
}

func (h *sealedHSM) DomainKeyID() [16]byte {
	if b := h.backend(); b != nil {
		return b.DomainKeyID()
	}
	return [16]byte{}
}

func (h *sealedHSM) ExportDomain(ctx context.Context, recipientPub, info []byte) ([]byte, error) {
	b, err := h.get()
	if err != nil {
		return nil, err
	}
	return b.ExportDomain(ctx, recipientPub, info)
}

func (h *sealedHSM) ImportDomain(ctx context.Context, token, info []byte) error {
	b, err := h.get()
	if err != nil {
		return err
	}
	return b.ImportDomain(ctx, token, info)
}

func (h *sealedHSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shut = true
	if b := h.backend(); b != nil {
		return b.Close()
	}
	return nil
}

// sealing is a sealed start's state: the HSM waiting for its secret, the
// rest of Start waiting for the HSM, and the guessing limit.
type sealing struct {
	h *sealedHSM
	// pending is set until the node serves: the gate refuses KMS calls.
	pending atomic.Bool
	// mu serializes unseals, and Close with them.
	mu sync.Mutex
	// finish runs the steps of Start that need the HSM; nil until Start
	// has set it, and again once it succeeded.
	finish func(ctx context.Context) error
	closed bool
	// failures counts wrong secrets since the last success, the last at
	// lastFailure.
	failures    int
	lastFailure time.Time
	// now is the clock of the guessing limit (time.Now if nil).
	now func() time.Time
	// stop ends a running finish when the node closes (nil: never).
	stop   context.Context
	cancel context.CancelFunc
}

// newSealing returns the sealed state of a node whose HSM is h.
func newSealing(h *sealedHSM) *sealing {
	st := &sealing{h: h}
	st.stop, st.cancel = context.WithCancel(context.Background())
	return st
}

// finishContext bounds a finish as Start's own wait is, and ends it when
// the node closes.
func (st *sealing) finishContext() (context.Context, context.CancelFunc) {
	base := st.stop
	if base == nil {
		base = context.Background()
	}
	return context.WithTimeout(base, startupWait)
}

// Guessing: the first freeUnsealAttempts wrong secrets cost nothing but
// the KDF (soft: Argon2id, 64 MiB; a token: its own PIN counter, which may
// lock the PIN); then each attempt waits twice as long as the last since
// the last failure, up to maxUnsealWait. One unseal runs at a time.
const (
	freeUnsealAttempts = 3
	maxUnsealWait      = 5 * time.Minute
)

// unsealWait is how long after lastFailure, with failures wrong secrets
// so far, the next attempt is refused.
func unsealWait(failures int) time.Duration {
	if failures < freeUnsealAttempts {
		return 0
	}
	d := time.Second << min(failures-freeUnsealAttempts, 16)
	return min(d, maxUnsealWait)
}

// openSealedIdentity is openIdentity for a sealed start: the HSM stays
// closed, and the certificates are used as they are on disk.
func (s *Server) openSealedIdentity(dir string) (*pki, error) {
	if !hasRaftState(dir) {
		return nil, fmt.Errorf("--sealed-start: data dir %s has no raft state: a node's first start creates or receives its domain key, so it cannot be sealed; start it once without --sealed-start", dir)
	}
	kind := s.cfg.HSM
	if kind == "" {
		kind = soft.Kind
	}
	if kind == soft.Kind {
		nc := soft.NodeConfig{Dir: filepath.Join(dir, "hsm")}
		if _, err := os.Stat(nc.DevKeyPath()); err == nil {
			return nil, fmt.Errorf("--sealed-start: the soft HSM in %s is sealed with the dev-mode key file %s, not a passphrase; a sealed start needs a passphrase-sealed HSM", nc.Dir, nc.DevKeyPath())
		}
		if _, err := os.Stat(filepath.Join(nc.Dir, "state")); err != nil {
			return nil, fmt.Errorf("--sealed-start: no soft HSM state: %w", err)
		}
	}
	p, err := loadJoinedPKI(dir)
	if err != nil {
		return nil, fmt.Errorf("--sealed-start: %w", err)
	}
	h := &sealedHSM{kind: kind}
	s.hsm = h
	s.onClose(h.Close)
	s.sealing = newSealing(h)
	s.sealing.pending.Store(true)
	return p, nil
}

// startSealed ends Start for a sealed node: it serves the cluster routes,
// health and NodeService.Unseal, which runs finish.
func (s *Server) startSealed(finish func(ctx context.Context) error, stderr io.Writer) {
	s.sealing.mu.Lock()
	s.sealing.finish = finish
	s.sealing.mu.Unlock()
	s.gate.setPhase(phaseServing)
	s.log.Warn("started sealed: the node replicates but serves no KMS call until it is unsealed", "api", "https://"+s.APIAddr())
	fmt.Fprintf(s.forPeople(stderr, slog.LevelInfo), "Trent node %s is SEALED. Unseal it with: trent node unseal --endpoint %s --data-dir ADMIN-DIR\n",
		s.nodeID, s.APIAddr())
}

// stillSealed reports whether the node started sealed and does not serve
// yet.
func (s *Server) stillSealed() bool { return s.sealing != nil && s.sealing.pending.Load() }

// closeSealing stops unseals for Close: it ends a running one's finish
// and waits for that unseal to return.
func (s *Server) closeSealing() {
	if s.sealing != nil {
		if s.sealing.cancel != nil {
			s.sealing.cancel() // a running unseal's finish ends now, not after its wait
		}
		s.sealing.mu.Lock()
		s.sealing.closed = true
		s.sealing.mu.Unlock()
	}
}

// unseal opens the HSM with secret and finishes the start. Errors are
// Connect errors for the admin.
func (s *Server) unseal(secret []byte) error {
	st := s.sealing
	if st == nil {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("node %s was not started with --sealed-start: it is not sealed", s.nodeID))
	}
	if !st.mu.TryLock() {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("another unseal of node %s is in progress; retry when it is done", s.nodeID))
	}
	defer st.mu.Unlock()
	now := time.Now()
	if st.now != nil {
		now = st.now()
	}
	switch {
	case st.closed:
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %s is shutting down", s.nodeID))
	case !st.pending.Load():
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("node %s is already unsealed", s.nodeID))
	case st.finish == nil:
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %s is still starting; retry in a moment", s.nodeID))
	case len(secret) == 0:
		return connect.NewError(connect.CodeInvalidArgument, errors.New("no passphrase or PIN was given"))
	}
	if wait := st.lastFailure.Add(unsealWait(st.failures)).Sub(now); wait > 0 {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%d wrong passphrases or PINs so far: node %s takes the next attempt in %s",
			st.failures, s.nodeID, wait.Round(time.Second)))
	}
	if st.h.backend() == nil {
		b, err := s.openUnsealed(secret)
		switch {
		case errors.Is(err, soft.ErrWrongKey), errors.Is(err, pkcs11.ErrWrongPIN):
			st.failures++
			st.lastFailure = now
			s.log.Warn("unseal refused: wrong passphrase or PIN", "failures", st.failures)
			return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("wrong passphrase or PIN: node %s's HSM did not open, and the node stays sealed", s.nodeID))
		case err != nil:
			s.log.Error("unseal: the HSM did not open", "err", err)
			return connect.NewError(connect.CodeInternal, fmt.Errorf("node %s could not open its HSM (its log says why); it stays sealed", s.nodeID))
		}
		if err := st.h.install(b); err != nil {
			return connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %s is shutting down", s.nodeID))
		}
		s.watchHSM(b)
		st.failures = 0
	}
	// The rest of the start is bounded as Start's own wait is; the call's
	// deadline is shorter, and the start goes on when the caller leaves
	// (and ends when the node closes).
	ctx, cancel := st.finishContext()
	defer cancel()
	if err := st.finish(ctx); err != nil {
		s.log.Error("unsealed, but the start did not finish", "err", err)
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("node %s opened its HSM but did not finish starting (its log says why); run trent node unseal again to retry", s.nodeID))
	}
	st.finish = nil
	st.pending.Store(false)
	s.log.Info("unsealed: serving")
	return nil
}

// openUnsealed opens the configured backend with the passphrase or PIN.
func (s *Server) openUnsealed(secret []byte) (hsm.Backend, error) {
	if s.cfg.HSM == pkcs11.Kind {
		return openToken(s.cfg, secret, true)
	}
	var opts []soft.Option
	if s.metrics != nil {
		opts = append(opts, soft.WithObserver(s.metrics))
	}
	h, err := soft.Open(filepath.Join(s.dataDir, "hsm", "state"), soft.Passphrase(secret), opts...)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// nodePolicy: NodeService is the admin's, and serves while the node does
// not (unsealing is how a sealed node comes to serve).
func nodePolicy() policy {
	return policy{source: audit.SourceCluster, callers: principals, admin: true, maxBytes: smallMaxBytes, timeout: callTimeout,
		audit: auditConnect, peers: principals}
}

// mountNode mounts NodeService.
func (s *Server) mountNode(g *gate) {
	g.connect("", nodePolicy(), func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return nodev1connect.NewNodeServiceHandler(nodeService{s}, append([]connect.HandlerOption{connect.WithInterceptors(ics...)}, limits...)...)
	})
}

type nodeService struct{ s *Server }

func (n nodeService) Unseal(_ context.Context, req *nodev1.UnsealRequest) (*nodev1.UnsealResponse, error) {
	defer clear(req.Secret)
	if err := n.s.unseal(req.Secret); err != nil {
		return nil, err
	}
	return &nodev1.UnsealResponse{NodeId: n.s.nodeID}, nil
}

// finishSealed returns the steps of Start a sealed node runs once its HSM
// is open: gossip and the membership loop, then serve (the services and
// certificate renewal). A step that succeeded is not run again when an
// unseal retries after a later one failed.
func (s *Server) finishSealed(serve func(ctx context.Context) error) func(ctx context.Context) error {
	var member bool
	return func(ctx context.Context) error {
		if !member {
			if err := s.startStep(ctx, "joining gossip", s.startMembership); err != nil {
				return fmt.Errorf("gossip: %w", err)
			}
			member = true
		}
		return serve(ctx)
	}
}
