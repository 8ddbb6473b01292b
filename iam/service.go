package iam

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// Limits, from IAM.
const (
	// MaxAccessKeys is how many access keys one principal may have.
	MaxAccessKeys = 2
	// DefaultCertValidity and MaxCertValidity bound IssueCertificate.
	DefaultCertValidity = 24 * time.Hour
	MaxCertValidity     = 365 * 24 * time.Hour

	defaultMaxItems = 100
	maxMaxItems     = 1000
)

// Store is the read side of the replicated state.
type Store interface {
	User(account, name string) (*fsm.User, bool)
	ListUsers(account, after string, limit int) ([]*fsm.User, bool)
	AccessKey(id string) (*fsm.AccessKey, bool)
	ListAccessKeys(owner string) []*fsm.AccessKey
}

// Log proposes commands to the replicated log; it is the kms package's Log.
// Besides the command's result, Apply may fail with wire.ErrNotLeader,
// wire.ErrShutdown or wire.ErrUnknownOutcome (wrapped or not).
type Log interface {
	Apply(ctx context.Context, cmd []byte) (resp any, index uint64, err error)
}

// MAC computes a tag under a key derived from the cluster domain key, the
// same on every node (hsm.Backend's MAC).
type MAC interface {
	MAC(ctx context.Context, label string, msg []byte) ([]byte, error)
}

// Every HSM backend serves IAM.
var _ MAC = hsm.Backend(nil)

// CA issues client certificates (identity.CA).
type CA interface {
	SignCSR(csrDER []byte, p identity.Principal, now time.Time, ttl time.Duration) ([]byte, error)
	IssueClient(p identity.Principal, pub crypto.PublicKey, now time.Time, ttl time.Duration) ([]byte, error)
	CertPEM() []byte
}

// Config configures a Service.
type Config struct {
	Store Store
	Log   Log
	// HSM derives access key secrets.
	HSM MAC
	// CA signs client certificates.
	CA CA
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of user and access key ids; nil means crypto/rand.
	Rand io.Reader
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
	// Explainer answers Explain; nil makes Explain unavailable.
	Explainer Explainer
	// AdminAccount is the cluster's admin account (the server's
	// AccountID). Its root may revoke and list the certificates of every
	// account, including serials IAM never issued (the bootstrap admin
	// certificate); other roots only their own account's. Empty means no
	// account has that power.
	AdminAccount string
}

// Service implements the IdentityService operations. It is safe for
// concurrent use.
type Service struct {
	store  Store
	log    Log
	keys   *AccessKeys
	ca     CA
	now    func() time.Time
	rand   io.Reader
	logger *slog.Logger
	admin  string

	explainer Explainer
}

var _ iamv1connect.IdentityServiceHandler = (*Service)(nil)

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Log == nil || cfg.HSM == nil || cfg.CA == nil {
		return nil, errors.New("iam: Store, Log, HSM and CA are required")
	}
	if _, ok := cfg.Store.(AuthzStore); !ok {
		return nil, errors.New("iam: Store must also be an AuthzStore")
	}
	s := &Service{store: cfg.Store, log: cfg.Log, keys: NewAccessKeys(cfg.Store, cfg.HSM), ca: cfg.CA,
		now: cfg.Now, rand: cfg.Rand, logger: cfg.Logger, explainer: cfg.Explainer, admin: cfg.AdminAccount}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// NewHandler returns the path prefix and HTTP handler serving svc over
// Connect, gRPC and gRPC-Web. Pass the same interceptors (authentication
// context, error mapping, call metadata) as the KMS handler gets.
func NewHandler(svc *Service, opts ...connect.HandlerOption) (string, http.Handler) {
	return iamv1connect.NewIdentityServiceHandler(svc, opts...)
}

// AccessKeys returns the access key lookup for the AWS endpoint.
func (s *Service) AccessKeys() *AccessKeys { return s.keys }

// Exists reports whether p is a principal that still exists: an account
// root always, a user while a user with exactly that ARN exists. Roles and
// nodes are not IAM's to decide and are reported as existing. It answers
// by ARN only; authentication uses fsm.FSM.CheckCert, which also checks
// roles and the unique id a certificate carries.
func (s *Service) Exists(p identity.Principal) bool {
	if p.Kind != identity.KindUser {
		return true
	}
	u, ok := s.store.User(p.Account, p.Name)
	return ok && u.ARN == p.ARN
}

// caller returns the authenticated principal of the request.
func caller(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return identity.Principal{}, &wire.Error{Type: wire.UnrecognizedClient, Message: "The request has no authenticated principal."}
	}
	return p, nil
}

// requireRoot allows only the root of p's account. resource is the ARN
// acted on, for the message.
func requireRoot(p identity.Principal, action, resource string) error {
	if p.IsRoot() {
		return nil
	}
	return denied(p, action, resource)
}

func denied(p identity.Principal, action, resource string) error {
	return newError(wire.IAMAccessDenied, "User: %s is not authorized to perform: iam:%s on resource: %s because no identity-based policy allows the iam:%s action",
		p.ARN, action, resource, action)
}

func newError(typ, format string, args ...any) *wire.Error {
	return &wire.Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// validation returns a ValidationError in AWS's Coral style.
func validation(format string, args ...any) *wire.Error {
	return &wire.Error{Type: wire.IAMValidation, Message: "1 validation error detected: " + fmt.Sprintf(format, args...)}
}

// propose replicates cmd and returns the result; a refusal at apply time
// becomes the matching *wire.Error (see rejection).
func (s *Service) propose(ctx context.Context, cmd fsm.Command) (*fsm.Result, error) {
	r, idx, err := fsm.Apply(ctx, s.log, cmd)
	if idx != 0 { // the command applied, if only to be refused
		wire.SetAppliedIndex(ctx, idx)
	}
	var rej *fsm.Rejection
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &rej):
		return nil, s.rejection(ctx, cmd.Op(), rej)
	case errors.Is(err, wire.ErrNotLeader), errors.Is(err, wire.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, newError(wire.ServiceUnavailable, "The service could not reach a quorum in time; retry the request.")
	case errors.Is(err, wire.ErrUnknownOutcome):
		return nil, newError(wire.ServiceUnavailable, "Leadership changed while the request was in flight; its outcome is unknown. Retry the request.")
	}
	return nil, s.internal(ctx, string(cmd.Op()), err)
}

// rejectionTypes are the errors the state machine refuses this service's
// commands with (fsm's IAM names). They are answered as they are; a name
// not listed, such as a KMS one, which no command of this service can
// meet, is an internal error rather than a name IAM clients do not know.
var rejectionTypes = map[string]bool{
	wire.EntityAlreadyExists: true,
	wire.IAMLimitExceeded:    true,
	wire.NoSuchEntity:        true,
	wire.ServiceFailure:      true,
	wire.IAMValidation:       true,
}

// rejection translates a command refused at apply time.
func (s *Service) rejection(ctx context.Context, op fsm.Op, r *fsm.Rejection) error {
	if !rejectionTypes[r.Type] {
		return s.internal(ctx, string(op), r)
	}
	return &wire.Error{Type: r.Type, Message: r.Message}
}

// internal logs err for operators and returns an opaque ServiceFailure.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	s.logger.ErrorContext(ctx, "internal error", "op", op, "err", err)
	return newError(wire.ServiceFailure, "internal error")
}

// Lengths of the random part of ids, as in IAM: access key ids (AKIA...)
// have 20 characters, user and role ids (AIDA..., AROA...) 21.
const (
	accessKeyIDRandLen = 16
	principalIDRandLen = 17
)

// newID returns prefix followed by n random upper-case letters and
// digits, the shape of IAM's unique ids (AIDA..., AKIA...).
func (s *Service) newID(prefix string, n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	var buf [32]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(s.rand, buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			// 252 = 7*36: rejecting larger bytes keeps the choice uniform.
			if b < 252 && len(out) < cap(out) {
				out = append(out, alphabet[b%36])
			}
		}
	}
	return string(out), nil
}

// isoDate formats a replicated Unix-millisecond time as IAM does.
func isoDate(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
