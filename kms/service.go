package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/grants"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

// HSM is the part of an HSM backend the service uses. HSM errors never
// reach a client: [hsm.ErrAuthentication] becomes InvalidCiphertextException,
// anything else KMSInternalException with the detail only in the log.
type HSM interface {
	GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) (ekt []byte, err error)
	Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error)
	Random(ctx context.Context, n int) ([]byte, error)
	// MAC tags msg under a cluster-wide key (grant tokens).
	MAC(ctx context.Context, label string, msg []byte) ([]byte, error)
}

// Every backend serves the service.
var _ HSM = hsm.Backend(nil)

// Store is the read side of the replicated state.
type Store interface {
	Key(id string) (*fsm.Key, bool)
	ListKeys(account, after string, limit int) ([]*fsm.Key, bool)
	Grant(keyID, id string) (*fsm.Grant, bool)
	GrantsFor(keyID, principal string, fn func(*fsm.Grant) bool)
	ListGrants(keyID, after, grantee string, limit int) ([]*fsm.Grant, bool)
	ListRetirableGrants(principal, afterKey, afterID string, limit int) ([]*fsm.Grant, bool)
	Alias(account, name string) (*fsm.Alias, bool)
	ListAliases(account, after, keyID string, limit int) ([]*fsm.Alias, bool)
	// KeyAliases returns the names of a key's aliases (shared; read only).
	KeyAliases(keyID string) []string
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, idx uint64) error
}

// ReadIndexer gives the index a linearizable read must wait for.
type ReadIndexer interface {
	ReadIndex(ctx context.Context) (uint64, error)
}

// Log proposes commands to the replicated log. Apply returns the state
// machine's response and the index at which the command applied, or fails
// with wire.ErrNotLeader, wire.ErrShutdown or wire.ErrUnknownOutcome
// (wrapped or not; package raft's errors are the same values), which the
// service answers with a retryable DependencyTimeoutException.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (resp any, index uint64, err error)
}

// Config configures a Service.
type Config struct {
	// Region is the AWS region in key ARNs (for example us-east-1).
	Region string
	Store  Store
	Log    Log
	HSM    HSM
	// Reads provides linearizable reads (requests with grant tokens).
	Reads ReadIndexer
	// Authorizer decides every call. Nil means a PolicyAuthorizer reading
	// identity policies from Store (if it is a PolicyStore) with clock Now.
	Authorizer Authorizer
	// MaxGrantsPerKey limits grants per key; zero means AWS's 50,000.
	MaxGrantsPerKey int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Day is how long a day of deletion waiting periods and rotation
	// periods lasts; zero means 24h. Only test harnesses shorten it
	// (server's --unsafe-lifecycle-day).
	Day time.Duration
	// Rand is the source of ids and nonces; nil means crypto/rand.
	Rand io.Reader
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Service implements the KMS operations. It is safe for concurrent use.
type Service struct {
	region    string
	store     Store
	log       Log
	hsm       HSM
	authz     Authorizer
	reads     ReadIndexer
	maxGrants int
	now       func() time.Time
	day       time.Duration
	rand      io.Reader
	logger    *slog.Logger
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Region == "" || cfg.Store == nil || cfg.Log == nil || cfg.HSM == nil || cfg.Reads == nil {
		return nil, errors.New("kms: Region, Store, Log, HSM and Reads are required")
	}
	s := &Service{region: cfg.Region, store: cfg.Store, log: cfg.Log, hsm: cfg.HSM, reads: cfg.Reads,
		authz: cfg.Authorizer, maxGrants: cfg.MaxGrantsPerKey, now: cfg.Now, rand: cfg.Rand}
	if s.maxGrants == 0 {
		s.maxGrants = 50000
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.day = cfg.Day
	if s.day <= 0 {
		s.day = 24 * time.Hour
	}
	s.logger = cfg.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.authz == nil {
		ps, _ := cfg.Store.(PolicyStore)
		s.authz = NewPolicyAuthorizer(ps, s.now, s.logger)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// caller returns the authenticated principal of the request.
func caller(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return identity.Principal{}, newError(wire.UnrecognizedClient, "The request has no authenticated principal.")
	}
	return p, nil
}

func (s *Service) keyARN(account, id string) string {
	return identity.KeyARN(s.region, account, id)
}

// resolveKey finds the key that keyID names for the caller: a key id, a
// key ARN, an alias name ("alias/x", in the caller's account) or an alias
// ARN. It is the one place a KeyId member becomes a key. allowAlias says
// whether the operation accepts aliases, as AWS's cryptographic
// operations and DescribeKey do; the others refuse them with
// InvalidArnException.
func (s *Service) resolveKey(p identity.Principal, keyID string, allowAlias bool) (*fsm.Key, error) {
	switch {
	case keyID == "":
		return nil, validation("Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	case len(keyID) > 2048:
		return nil, validation("Value at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	account, id := p.Account, keyID
	switch {
	case strings.HasPrefix(keyID, "alias/"):
		if !allowAlias {
			return nil, errAliasNotSupported()
		}
		return s.aliasKey(p.Account, keyID, identity.AliasARN(s.region, p.Account, keyID))
	case strings.HasPrefix(keyID, "arn:"):
		arn, err := identity.ParseKMSARN(keyID)
		if err != nil {
			return nil, newError(wire.NotFound, "Invalid keyId %s", keyID)
		}
		if arn.Type == identity.TypeAlias {
			if !allowAlias {
				return nil, errAliasNotSupported()
			}
			if arn.Region != s.region {
				return nil, errAliasNotFound(keyID)
			}
			return s.aliasKey(arn.Account, arn.AliasName(), keyID)
		}
		if arn.Region != s.region {
			return nil, newError(wire.NotFound, "Key '%s' does not exist", keyID)
		}
		account, id = arn.Account, arn.ID
	}
	if _, err := parseUUID(id); err != nil {
		return nil, newError(wire.NotFound, "Invalid keyId %s", keyID)
	}
	return s.keyOf(account, strings.ToLower(id))
}

// requestAlias returns the alias name a KeyId member names its key by
// ("alias/<name>", also for an alias ARN), for kms:RequestAlias; "" when
// it is a key id or key ARN.
func requestAlias(keyID string) string {
	if strings.HasPrefix(keyID, "alias/") {
		return keyID
	}
	if !strings.HasPrefix(keyID, "arn:") || !strings.Contains(keyID, ":alias/") {
		return "" // most requests: no parse, no allocation
	}
	if arn, err := identity.ParseKMSARN(keyID); err == nil {
		return arn.AliasName()
	}
	return ""
}

// aliasKey returns the key the alias of account named name points at.
func (s *Service) aliasKey(account, name, arn string) (*fsm.Key, error) {
	a, ok := s.store.Alias(account, name)
	if !ok {
		return nil, errAliasNotFound(arn)
	}
	return s.keyOf(account, a.KeyID)
}

// keyOf returns the key with id in account.
func (s *Service) keyOf(account, id string) (*fsm.Key, error) {
	k, ok := s.store.Key(id)
	if !ok || k.Account != account {
		return nil, newError(wire.NotFound, "Key '%s' does not exist", s.keyARN(account, id))
	}
	return k, nil
}

func errAliasNotFound(arn string) error {
	return newError(wire.NotFound, "Alias %s is not found.", arn)
}

func errAliasNotSupported() error {
	return newError(wire.InvalidArn, "Key Aliases are not supported for this operation.")
}

// Reads by a write. A write is ordered by the leader, but it validates
// against this node's state, which a bounded read may see up to the
// node's staleness bound in the past: a key or grant created, or a key
// enabled, just before through another node may not be here yet. A write
// never fails on such stale state: before it answers NotFound or
// DisabledException it linearizes (read index through the leader) and
// looks again. The check costs nothing when the state is already there.

// resolveKeyForWrite is resolveKey for a write; with needUsable, a key
// that is not usable here is also looked up again on fresh state.
func (s *Service) resolveKeyForWrite(ctx context.Context, p identity.Principal, keyID string, needUsable bool) (*fsm.Key, error) {
	k, err := s.resolveKey(p, keyID, false)
	var ke *wire.Error
	stale := errors.As(err, &ke) && ke.Type == wire.NotFound || err == nil && needUsable && usable(k) != nil
	if !stale {
		return k, err
	}
	if err := s.linearize(ctx, 0); err != nil {
		return nil, err
	}
	return s.resolveKey(p, keyID, false)
}

// grantForWrite looks a grant up for a write (RetireGrant, RevokeGrant),
// on fresh state if this node does not have it.
func (s *Service) grantForWrite(ctx context.Context, keyID, grantID string) (*fsm.Grant, bool, error) {
	if g, ok := s.store.Grant(keyID, grantID); ok {
		return g, true, nil
	}
	if err := s.linearize(ctx, 0); err != nil {
		return nil, false, err
	}
	g, ok := s.store.Grant(keyID, grantID)
	return g, ok, nil
}

// authorize decides a call: the policy authorizer first; if it does not
// allow (and did not explicitly deny), a grant on the key for the caller
// may allow a grant operation. Denials carry AWS's message.
func (s *Service) authorize(ctx context.Context, p identity.Principal, action string, k *fsm.Key, ec map[string]string) error {
	return s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: action, Key: k, EncryptionContext: ec})
}

// authorizeRequest is authorize for a request with more condition keys.
func (s *Service) authorizeRequest(ctx context.Context, r *AuthzRequest) error {
	if r.Key != nil && r.Key.Account != r.Principal.Account && !crossAccountAction(r.Action) {
		// Permissions that other accounts are given for an operation that
		// does not work across accounts are ineffective.
		return s.denied(ctx, ErrDenied, r.Principal, r.Action, r.Key)
	}
	err := s.policyAllowsRequest(ctx, r)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrExplicitDeny) && r.Key != nil {
		if op, ok := grantOperation(r.Action); ok {
			id, refusal := s.grantAllowing(r.Key, r.Principal, op, r.EncryptionContext)
			if id != "" {
				return nil
			}
			if refusal != nil {
				err = fmt.Errorf("%w; %w", err, refusal)
			}
		}
	}
	return s.denied(ctx, err, r.Principal, r.Action, r.Key)
}

// authorizeAlias decides an alias operation on the alias itself (AWS:
// CreateAlias, UpdateAlias and DeleteAlias need permission on the alias
// and on the key). An alias has no resource policy: identity policies
// decide, with the alias ARN as the resource; the account root is
// allowed in its own account.
func (s *Service) authorizeAlias(ctx context.Context, p identity.Principal, action, aliasARN string) error {
	err := s.authz.Authorize(ctx, &AuthzRequest{Principal: p, Action: action, Account: p.Account, Resource: aliasARN})
	if err == nil {
		return nil
	}
	return s.deniedOn(ctx, err, p, action, aliasARN)
}

// crossAccountAction reports whether an action may be performed on a key
// of another account (reference section 1.6).
func crossAccountAction(action string) bool {
	switch action {
	case "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
		"kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext",
		"kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:VerifyMac", "kms:DeriveSharedSecret", "kms:GetPublicKey",
		"kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant", "kms:RetireGrant",
		"kms:GetKeyRotationStatus":
		return true
	}
	return false
}

// policyAllows asks the policy authorizer only.
func (s *Service) policyAllows(ctx context.Context, p identity.Principal, action string, k *fsm.Key, ec map[string]string) error {
	return s.policyAllowsRequest(ctx, &AuthzRequest{Principal: p, Action: action, Key: k, EncryptionContext: ec})
}

func (s *Service) policyAllowsRequest(ctx context.Context, r *AuthzRequest) error {
	s.completeRequest(r)
	return s.authz.Authorize(ctx, r)
}

// completeRequest fills in what an authorization request derives from the
// state: the resource's account and the key's aliases.
func (s *Service) completeRequest(r *AuthzRequest) {
	if r.Key == nil {
		r.Account = r.Principal.Account
		return
	}
	r.Account = r.Key.Account
	r.KeyAliases = s.store.KeyAliases(r.Key.ID)
}

// denied turns an authorizer's refusal into the error the caller sees,
// and logs why (the caller's message names no policy or statement).
func (s *Service) denied(ctx context.Context, err error, p identity.Principal, action string, k *fsm.Key) error {
	resource := "*"
	if k != nil {
		resource = k.ARN
	}
	return s.deniedOn(ctx, err, p, action, resource)
}

// deniedOn is denied for a resource named by its ARN.
func (s *Service) deniedOn(ctx context.Context, err error, p identity.Principal, action, resource string) error {
	var e *wire.Error
	if errors.As(err, &e) {
		return e
	}
	explain := err.Error()
	var d *Denial
	if errors.As(err, &d) {
		explain = d.Decision.Explain()
		if errors.Is(err, grants.ErrAmbiguousContext) {
			explain += "; " + grants.ErrAmbiguousContext.Error()
		}
	}
	s.logger.InfoContext(ctx, "access denied", "principal", p.ARN, "action", action, "resource", resource, "explain", explain)
	reason := "because no resource-based policy allows the " + action + " action"
	if errors.Is(err, ErrExplicitDeny) {
		reason = "with an explicit deny in a resource-based policy"
		if d != nil && len(d.Decision.Statements) > 0 && d.Decision.Statements[0].Kind == policy.IdentityPolicy {
			// AWS names the kind of policy, never the policy itself.
			reason = "with an explicit deny in an identity-based policy"
		}
	}
	if errors.Is(err, grants.ErrAmbiguousContext) || d != nil && d.Decision.AmbiguousContext {
		// Say what is wrong: the same request with one spelling of the
		// key may well be allowed. This names no policy or grant.
		reason += ambiguousContextReason
	}
	return newError(wire.AccessDenied, "User: %s is not authorized to perform: %s on resource: %s %s", p.ARN, action, resource, reason)
}

// ambiguousContextReason ends the AccessDenied message of a request refused
// because its encryption context has keys that fold together
// (ciphertext.FoldKey), which grant constraints and
// kms:EncryptionContext: conditions refuse.
const ambiguousContextReason = ", and its encryption context has keys that differ only by case, which grant constraints and kms:EncryptionContext: policy conditions refuse; use one spelling of each key"

// usable checks that a key can do cryptography now (fsm.Key.Unusable,
// which CreateGrant also checks at apply time).
func usable(k *fsm.Key) error {
	if e := k.Unusable(); e != nil {
		return e
	}
	return nil
}

// propose replicates cmd and returns the result; a refusal at apply time
// becomes the matching *wire.Error (see rejection).
func (s *Service) propose(ctx context.Context, cmd fsm.Command) (*fsm.Result, error) {
	r, idx, err := fsm.Apply(ctx, s.log, cmd)
	var rej *fsm.Rejection
	switch {
	case err == nil:
		wire.SetAppliedIndex(ctx, idx)
		return r, nil
	case errors.As(err, &rej):
		wire.SetAppliedIndex(ctx, idx)
		return nil, s.rejection(ctx, cmd.Op(), rej)
	case errors.Is(err, wire.ErrNotLeader), errors.Is(err, wire.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, newError(wire.DependencyTimeout, "The service could not reach a quorum in time; retry the request.")
	case errors.Is(err, wire.ErrUnknownOutcome):
		return nil, newError(wire.DependencyTimeout, "Leadership changed while the request was in flight; its outcome is unknown. Retry the request.")
	}
	return nil, s.internal(ctx, string(cmd.Op()), err)
}

// rejectionTypes are the errors the state machine refuses this service's
// commands with. They carry AWS KMS error names already and are answered
// as they are; a name not listed, which no command of this service can
// meet, is an internal error rather than a name KMS clients do not know.
var rejectionTypes = map[string]bool{
	wire.NotFound:                true,
	wire.AlreadyExists:           true,
	wire.Disabled:                true,
	wire.KMSInvalidState:         true,
	wire.LimitExceeded:           true,
	wire.Conflict:                true,
	wire.Tag:                     true,
	wire.MalformedPolicyDocument: true,
	wire.KMSInternal:             true,
	wire.Validation:              true, // UpdateAlias to a key of another kind
	wire.UnsupportedOperation:    true, // import operations on a key whose origin is not EXTERNAL
	wire.IncorrectKeyMaterial:    true,
	fsm.AliasMoved:               true, // kms.onAlias decides again
}

// rejection translates a command refused at apply time.
func (s *Service) rejection(ctx context.Context, op fsm.Op, r *fsm.Rejection) error {
	if !rejectionTypes[r.Type] {
		return s.internal(ctx, string(op), r)
	}
	return &wire.Error{Type: r.Type, Message: r.Message}
}

// dryRun returns the error a successful dry run answers with.
func dryRun() error {
	return newError(wire.DryRunOperation, "The request would have succeeded, but the DryRun option is set.")
}

func checkGrantTokens(tokens []string) error {
	if len(tokens) > 10 {
		return validation("Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, t := range tokens {
		if len(t) < 1 || len(t) > 8192 {
			return validation("Value at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]")
		}
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func seconds(ms int64) float64 { return float64(ms) / 1000 }

// internal logs err for operators and returns an opaque KMSInternalException.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	s.logger.ErrorContext(ctx, "internal error", "op", op, "err", err)
	return newError(wire.KMSInternal, "internal error")
}
