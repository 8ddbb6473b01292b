package kms

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
)

// PolicyStore is the part of the replicated state the policy authorizer
// reads besides keys: the identity policies of users and roles.
type PolicyStore interface {
	PrincipalPolicies(owner string) []*fsm.PrincipalPolicy
}

// PolicyAuthorizer decides requests as AWS KMS does, with the key's policy
// and the caller's identity policies (package policy): an explicit Deny in
// either wins; otherwise the key policy must allow the caller directly, or
// allow the caller's account and an identity policy allow the request (the
// account root needs none in its own account); across accounts both sides
// must allow. Grants are the Service's business: it consults them when
// Authorize returns an implicit deny.
//
// Policies are parsed once per document and cached, so a request costs one
// evaluation. PolicyAuthorizer is safe for concurrent use.
type PolicyAuthorizer struct {
	store  PolicyStore
	now    func() time.Time
	logger *slog.Logger

	mu    sync.RWMutex
	cache map[string]cachedPolicy // by key id, or identity policy owner + "\x00" + name
}

type cachedPolicy struct {
	doc string
	p   *policy.Policy
	err error
}

// maxCachedPolicies bounds the parsed-policy cache; when full it starts
// over (a policy costs one parse to come back).
const maxCachedPolicies = 100000

// NewPolicyAuthorizer returns an authorizer reading identity policies from
// store (nil: there are none). now is the clock for aws:CurrentTime (nil:
// time.Now). logger receives policies that fail to parse, which only a
// bug can store (nil: discarded).
func NewPolicyAuthorizer(store PolicyStore, now func() time.Time, logger *slog.Logger) *PolicyAuthorizer {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PolicyAuthorizer{store: store, now: now, logger: logger, cache: make(map[string]cachedPolicy)}
}

// A Denial is the error PolicyAuthorizer.Authorize returns to deny. It
// matches ErrExplicitDeny or ErrDenied (errors.Is), and carries the
// decision for the node's log. Its Error text names policies and
// statements, never policy text; still, the Service never shows it to
// callers.
type Denial struct {
	Decision policy.Decision
}

func (d *Denial) Error() string { return "kms: " + d.Decision.Explain() }

// Unwrap returns ErrExplicitDeny or ErrDenied.
func (d *Denial) Unwrap() error {
	if d.Decision.Reason == policy.ExplicitDeny {
		return ErrExplicitDeny
	}
	return ErrDenied
}

// Authorize implements Authorizer.
func (a *PolicyAuthorizer) Authorize(ctx context.Context, r *AuthzRequest) error {
	d := a.Decide(ctx, r)
	if d.Allowed {
		return nil
	}
	return &Denial{Decision: d}
}

// Decide evaluates r and returns the decision with the statements that
// made it.
func (a *PolicyAuthorizer) Decide(ctx context.Context, r *AuthzRequest) policy.Decision {
	req := a.request(ctx, r)
	var keyPolicy *policy.Policy
	if r.Key != nil {
		doc := r.Key.Policy
		if doc == "" {
			doc = policy.DefaultKeyPolicy(r.Key.Account)
		}
		p, err := a.parse(r.Key.ID, doc, policy.KeyPolicy, "default")
		if err != nil {
			return policy.Decision{}
		}
		keyPolicy = p
	}
	return policy.Evaluate(req, keyPolicy, a.identityPolicies(r.Principal))
}

// identityPolicies returns the parsed identity policies of p.
func (a *PolicyAuthorizer) identityPolicies(p identity.Principal) []*policy.Policy {
	if a.store == nil || (p.Kind != identity.KindUser && p.Kind != identity.KindRole) {
		return nil
	}
	stored := a.store.PrincipalPolicies(p.ARN)
	if len(stored) == 0 {
		return nil
	}
	out := make([]*policy.Policy, 0, len(stored))
	for _, sp := range stored {
		if pp, err := a.parse(sp.Owner+"\x00"+sp.Name, sp.Document, policy.IdentityPolicy, sp.Name); err == nil {
			out = append(out, pp)
		}
	}
	return out
}

// parse returns the parsed doc, from the cache when the document under
// that cache key has not changed. Comparing a stored document with itself
// is cheap: both strings share their bytes.
func (a *PolicyAuthorizer) parse(cacheKey, doc string, kind policy.Kind, name string) (*policy.Policy, error) {
	a.mu.RLock()
	c, ok := a.cache[cacheKey]
	a.mu.RUnlock()
	if ok && c.doc == doc {
		return c.p, c.err
	}
	p, err := policy.Parse(doc, kind)
	if err != nil {
		a.logger.Error("stored policy does not parse; it allows nothing", "policy", cacheKey, "err", err)
	} else if kind == policy.IdentityPolicy {
		p = p.Named(name)
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedPolicies {
		clear(a.cache)
	}
	a.cache[cacheKey] = cachedPolicy{doc: doc, p: p, err: err}
	a.mu.Unlock()
	return p, err
}

// request builds the policy request: the caller, action and resource, and
// every condition key Trent can supply.
func (a *PolicyAuthorizer) request(ctx context.Context, r *AuthzRequest) *policy.Request {
	resource := "*"
	switch {
	case r.Key != nil:
		resource = r.Key.ARN
	case r.Resource != "":
		resource = r.Resource
	}
	req := policy.NewRequest(r.Principal, r.Action, resource, r.Account)
	req.SetEncryptionContext(r.EncryptionContext)
	switch {
	case r.Key != nil:
		req.SetKey(policy.KeyAttributes{KeySpec: r.Key.KeySpec, KeyUsage: r.Key.KeyUsage, Origin: r.Key.Origin,
			Aliases: r.KeyAliases})
		req.SetResourceTags(tagMap(r.Key.Tags))
	case r.NewKey != nil:
		req.SetKey(*r.NewKey)
	}
	req.SetRequestAlias(r.RequestAlias)
	if len(r.RequestTags) > 0 {
		req.SetRequestTags(tagMap(r.RequestTags))
	} else if len(r.TagKeys) > 0 {
		req.Set(policy.CondTagKeys, r.TagKeys...)
	}
	if usesEncryptionAlgorithm(r.Action) {
		// The default algorithm is reported even when the request omits it.
		alg := r.EncryptionAlgorithm
		if alg == "" {
			alg = symmetricDefault
		}
		req.Set(policy.CondEncryptionAlgorithm, alg)
	}
	switch {
	case r.Grant != nil:
		req.SetGrant(*r.Grant)
	case r.Action == "kms:ListGrants" || r.Action == "kms:RevokeGrant":
		req.SetGrant(policy.GrantRequest{})
	}
	if r.ReEncryptOnSameKey != nil {
		req.Set(policy.CondReEncryptOnSameKey, strconv.FormatBool(*r.ReEncryptOnSameKey))
	}
	if r.BypassLockoutCheck != nil {
		req.Set(policy.CondBypassLockoutCheck, strconv.FormatBool(*r.BypassLockoutCheck))
	}
	if r.PendingWindowInDays != nil {
		req.Set(policy.CondPendingWindowInDays, strconv.Itoa(int(*r.PendingWindowInDays)))
	}
	if r.RotationPeriodInDays != nil {
		req.Set(policy.CondRotationPeriodInDays, strconv.Itoa(int(*r.RotationPeriodInDays)))
	}
	for key, v := range map[string]string{policy.CondSigningAlgorithm: r.SigningAlgorithm,
		policy.CondMessageType: r.MessageType, policy.CondMacAlgorithm: r.MacAlgorithm, policy.CondDataKeyPairSpec: r.DataKeyPairSpec,
		policy.CondKeyAgreementAlgorithm: r.KeyAgreementAlgorithm, policy.CondWrappingAlgorithm: r.WrappingAlgorithm,
		policy.CondWrappingKeySpec: r.WrappingKeySpec, policy.CondExpirationModel: r.ExpirationModel} {
		if v != "" {
			req.Set(key, v)
		}
	}
	if r.ValidTo != 0 {
		req.Set(policy.CondValidTo, strconv.FormatFloat(seconds(r.ValidTo), 'f', -1, 64))
	}
	if info, ok := RequestInfoFrom(ctx); ok {
		req.SetSourceIP(info.SourceIP)
		req.SetSecureTransport(info.SecureTransport)
	}
	req.SetTime(a.now())
	return req
}

func tagMap(tags []fsm.Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// usesEncryptionAlgorithm reports whether kms:EncryptionAlgorithm applies
// to an action.
func usesEncryptionAlgorithm(action string) bool {
	switch action {
	case "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo":
		return true
	}
	return strings.HasPrefix(action, "kms:GenerateDataKey")
}

// Decider is an Authorizer that can say why: PolicyAuthorizer.
type Decider interface {
	Decide(ctx context.Context, r *AuthzRequest) policy.Decision
}

// ExplainAuthorization decides, without performing it, whether principal
// may perform action (kms:<Operation>) on the key keyID names (resolved as
// principal would; "" for actions without a key) with encryption context
// ec, and says which statements or grant decided. It is for
// administrators: the caller must check that whoever asks may see the
// policies. Condition keys of the connection (aws:SourceIp,
// aws:SecureTransport) are those of ctx.
func (s *Service) ExplainAuthorization(ctx context.Context, principal identity.Principal, action, keyID string, ec map[string]string) (*policy.Explanation, error) {
	if !strings.HasPrefix(action, "kms:") || len(action) < 5 {
		return nil, validation("Value '%s' at 'action' failed to satisfy constraint: Member must be kms:<Operation>", action)
	}
	r := &AuthzRequest{Principal: principal, Action: action, EncryptionContext: ec, RequestAlias: requestAlias(keyID)}
	out := &policy.Explanation{Resource: "*"}
	if keyID != "" {
		k, err := s.resolveKey(principal, keyID, true)
		if err != nil {
			return nil, err
		}
		r.Key, out.Resource = k, k.ARN
	}
	if r.Key != nil && r.Key.Account != principal.Account && !crossAccountAction(action) {
		out.Text = "denied: " + action + " cannot be performed on a key of another account"
		return out, nil
	}
	s.completeRequest(r)
	if d, ok := s.authz.(Decider); ok {
		out.Decision = d.Decide(ctx, r)
	} else if err := s.authz.Authorize(ctx, r); err == nil {
		out.Decision = policy.Decision{Allowed: true, Reason: policy.KeyPolicyAllow}
	} else if errors.Is(err, ErrExplicitDeny) {
		out.Decision = policy.Decision{Reason: policy.ExplicitDeny}
	}
	if !out.Decision.Allowed && out.Decision.Reason != policy.ExplicitDeny && r.Key != nil {
		if op, ok := grantOperation(action); ok {
			id, refusal := s.grantAllowing(r.Key, principal, op, ec)
			if id != "" {
				out.Decision = policy.Decision{Allowed: true, Reason: policy.GrantAllow, GrantID: id}
			}
			if refusal != nil {
				out.Text = out.Decision.Explain() + "; " + refusal.Error()
				return out, nil
			}
		}
	}
	out.Text = out.Decision.Explain()
	return out, nil
}
