package kms

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/grants"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

// grantOperation maps an IAM action to the grant operation that can allow it.
func grantOperation(action string) (grants.Operation, bool) {
	name, ok := strings.CutPrefix(action, "kms:")
	if !ok {
		return 0, false
	}
	return grants.Lookup(name)
}

func constraintsOf(g *fsm.Grant) grants.Constraints {
	return grants.Constraints{Subset: g.Subset, Equals: g.Equals}
}

// grantAllowing returns the id of a grant on k that lets p perform op with
// encryption context ec, or "" and grants.ErrAmbiguousContext when a grant
// with the operation refused ec only because two of its keys fold together
// (so the caller can be told what is wrong). The cost depends on p's grants
// on k only.
func (s *Service) grantAllowing(k *fsm.Key, p identity.Principal, op grants.Operation, ec map[string]string) (string, error) {
	id := ""
	var refusal error
	s.store.GrantsFor(k.ID, p.ARN, func(g *fsm.Grant) bool {
		switch err := grants.Check(grants.Set(g.Operations), constraintsOf(g), op, ec); {
		case err == nil:
			id = g.ID
		case errors.Is(err, grants.ErrAmbiguousContext):
			refusal = err
		}
		return id == ""
	})
	if id != "" {
		return id, nil
	}
	return "", refusal
}

func invalidToken() error {
	return newError(wire.InvalidGrantToken, "The grant token is not valid.")
}

// useGrantTokens validates the tokens of a request and, if there are any,
// makes the rest of the request a linearizable read: it waits until this
// node has applied everything committed before the request, and at least
// the entries that created the tokens' grants. A token that is malformed,
// forged, or names a grant that no longer exists is InvalidGrantTokenException.
func (s *Service) useGrantTokens(ctx context.Context, tokens []string) error {
	if err := checkGrantTokens(tokens); err != nil {
		return err
	}
	if len(tokens) == 0 {
		return nil
	}
	refs := make([]grants.Token, len(tokens))
	var minIndex uint64
	for i, t := range tokens {
		ref, err := grants.VerifyToken(ctx, s.hsm, t)
		if err != nil {
			if errors.Is(err, grants.ErrInvalidToken) {
				return invalidToken()
			}
			return s.internal(ctx, "VerifyToken", err)
		}
		refs[i] = ref
		minIndex = max(minIndex, ref.CreatedIndex)
	}
	if err := s.linearize(ctx, minIndex); err != nil {
		return err
	}
	for _, ref := range refs {
		if _, ok := s.store.Grant(formatUUID(ref.KeyID), hex.EncodeToString(ref.GrantID[:])); !ok {
			return invalidToken()
		}
	}
	return nil
}

// linearize waits until the local state reflects every write committed
// before the call (ReadIndex), and at least index minIndex.
func (s *Service) linearize(ctx context.Context, minIndex uint64) error {
	idx, err := s.reads.ReadIndex(ctx)
	if err != nil {
		if errors.Is(err, wire.ErrNotLeader) {
			return newError(wire.DependencyTimeout, "This node cannot serve a linearizable read now; retry the request.")
		}
		return newError(wire.DependencyTimeout, "The service could not confirm a quorum in time; retry the request.")
	}
	// The read index names an entry the state machine applies (see
	// raft.Node.ReadIndex), so waiting for it cannot stall on a no-op.
	wctx, cancel := context.WithTimeout(ctx, linearizeWait)
	defer cancel()
	target := max(idx, minIndex)
	if err := s.store.WaitApplied(wctx, target); err != nil {
		return newError(wire.DependencyTimeout, "The node did not catch up in time; retry the request.")
	}
	wire.SetReadIndex(ctx, target)
	return nil
}

// linearizeWait bounds how long a linearizable read waits for this node to
// apply the leader's read index.
const linearizeWait = 2 * time.Second

// checkPrincipalMember validates a grantee or retiring principal member.
func checkPrincipalMember(field, v string) error {
	if len(v) > 256 {
		return validation("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 256", field)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@:/-", c) >= 0) {
			return validation("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$", v, field)
		}
	}
	if _, err := identity.ParsePrincipal(v); err != nil {
		return newError(wire.InvalidArn, "%s %s is not a valid principal ARN.", field, v)
	}
	return nil
}

// CreateGrant creates a grant on one key for one grantee. With a Name, a
// retry with identical properties returns the original grant id (with a
// fresh token) instead of making a second grant; this is decided in the
// state machine, so it holds across concurrent retries and leader changes.
func (s *Service) CreateGrant(ctx context.Context, req *kmsv1.CreateGrantRequest) (*kmsv1.CreateGrantResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetGranteePrincipal() == "" {
		return nil, validation("Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null")
	}
	if err := checkPrincipalMember("granteePrincipal", req.GetGranteePrincipal()); err != nil {
		return nil, err
	}
	if r := req.GetRetiringPrincipal(); r != "" {
		if err := checkPrincipalMember("retiringPrincipal", r); err != nil {
			return nil, err
		}
	}
	ops, err := grants.ParseSet(req.GetOperations())
	if err != nil {
		return nil, validation("%s", err.Error())
	}
	c := grants.Constraints{Subset: req.GetConstraints().GetEncryptionContextSubset(), Equals: req.GetConstraints().GetEncryptionContextEquals()}
	if req.GetConstraints() != nil && c.Subset == nil && c.Equals == nil {
		// An empty Constraints object constrains nothing.
		c = grants.Constraints{}
	}
	if err := c.Validate(); err != nil {
		return nil, validation("Value at 'constraints' failed to satisfy constraint: %s", err.Error())
	}
	if n := req.GetName(); n != "" {
		if err := grants.ValidName(n); err != nil {
			return nil, validation("%s", err.Error())
		}
	}
	if err := s.useGrantTokens(ctx, req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), true)
	if err != nil {
		return nil, err
	}
	if err := grants.ValidForKey(ops, k.KeySpec, k.KeyUsage); err != nil {
		return nil, validation("%s", err.Error())
	}
	if err := s.authorizeCreateGrant(ctx, p, k, req, ops, c); err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	var id [32]byte
	if _, err := s.rand.Read(id[:]); err != nil {
		return nil, s.internal(ctx, "CreateGrant", err)
	}
	g := fsm.Grant{
		ID: hex.EncodeToString(id[:]), KeyID: k.ID, Name: req.GetName(), CreationDate: millis(s.now()),
		GranteePrincipal: req.GetGranteePrincipal(), RetiringPrincipal: req.GetRetiringPrincipal(),
		Operations: uint32(ops), Subset: c.Subset, Equals: c.Equals,
	}
	r, err := s.propose(ctx, &fsm.CreateGrant{Grant: g, MaxGrantsPerKey: s.maxGrants})
	if err != nil {
		return nil, err
	}
	keyID, _ := parseUUID(k.ID)
	gid, _ := grants.ParseID(r.Grant.ID)
	token, err := grants.IssueToken(ctx, s.hsm, s.rand, grants.Token{GrantID: gid, KeyID: keyID, CreatedIndex: r.Grant.CreatedIndex})
	if err != nil {
		return nil, s.internal(ctx, "IssueToken", err)
	}
	return &kmsv1.CreateGrantResponse{GrantToken: token, GrantId: r.Grant.ID}, nil
}

// authorizeCreateGrant allows a CreateGrant by policy (no limit on what is
// granted) or by a parent grant of the caller that includes CreateGrant, in
// which case the new grant may carry only the parent's operations and
// constraints at least as strict (the delegation rule).
func (s *Service) authorizeCreateGrant(ctx context.Context, p identity.Principal, k *fsm.Key, req *kmsv1.CreateGrantRequest, ops grants.Set, c grants.Constraints) error {
	const action = "kms:CreateGrant"
	gr := &policy.GrantRequest{Operations: req.GetOperations(), GranteePrincipal: req.GetGranteePrincipal(), RetiringPrincipal: req.GetRetiringPrincipal()}
	// kms:EncryptionContext:* of a CreateGrant are the constraint's pairs.
	var ec map[string]string
	if c.Equals != nil {
		gr.ConstraintTypes = append(gr.ConstraintTypes, "EncryptionContextEquals")
		ec = c.Equals
	}
	if c.Subset != nil {
		gr.ConstraintTypes = append(gr.ConstraintTypes, "EncryptionContextSubset")
		if ec == nil {
			ec = c.Subset
		}
	}
	err := s.policyAllowsRequest(ctx, &AuthzRequest{Principal: p, Action: action, Key: k, EncryptionContext: ec, Grant: gr})
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrExplicitDeny) {
		return s.denied(ctx, err, p, action, k)
	}
	allowed, hasParent := false, false
	s.store.GrantsFor(k.ID, p.ARN, func(g *fsm.Grant) bool {
		parent := grants.Set(g.Operations)
		if parent.Has(grants.CreateGrant) {
			hasParent = true
			allowed = grants.MayDelegate(parent, constraintsOf(g), ops, c)
		}
		return !allowed
	})
	if allowed {
		return nil
	}
	if hasParent {
		return newError(wire.AccessDenied, "User: %s is not authorized to perform: %s on resource: %s because a grant can only create grants with a subset of its operations and equal or stricter constraints",
			p.ARN, action, k.ARN)
	}
	return s.denied(ctx, err, p, action, k)
}

// grantEntry renders a grant as AWS's GrantListEntry.
func (s *Service) grantEntry(k *fsm.Key, g *fsm.Grant) *kmsv1.GrantListEntry {
	e := &kmsv1.GrantListEntry{
		KeyId: k.ARN, GrantId: g.ID, Name: g.Name, CreationDate: seconds(g.CreationDate),
		GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
		IssuingAccount: "arn:aws:iam::" + k.Account + ":root", Operations: grants.Set(g.Operations).Names(),
	}
	if g.Subset != nil || g.Equals != nil {
		e.Constraints = &kmsv1.GrantConstraints{EncryptionContextSubset: g.Subset, EncryptionContextEquals: g.Equals}
	}
	return e
}

func checkGrantID(id string) error {
	if _, err := grants.ParseID(id); err != nil {
		return newError(wire.InvalidGrantId, "Grant ID %s is not valid.", id)
	}
	return nil
}

// ListGrants lists the grants on a key, in every key state.
func (s *Service) ListGrants(ctx context.Context, req *kmsv1.ListGrantsRequest) (*kmsv1.ListGrantsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(req.Limit, 100, 50)
	if err != nil {
		return nil, err
	}
	after, err := decodeMarker(req.GetMarker())
	if err != nil {
		return nil, err
	}
	if g := req.GetGranteePrincipal(); g != "" {
		if err := checkPrincipalMember("granteePrincipal", g); err != nil {
			return nil, err
		}
	}
	k, err := s.resolveKey(p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:ListGrants", k, nil); err != nil {
		return nil, err
	}
	resp := &kmsv1.ListGrantsResponse{Grants: []*kmsv1.GrantListEntry{}}
	if id := req.GetGrantId(); id != "" {
		if err := checkGrantID(id); err != nil {
			return nil, err
		}
		g, ok := s.store.Grant(k.ID, id)
		if !ok {
			return nil, newError(wire.InvalidGrantId, "Grant ID %s is not valid.", id)
		}
		if req.GetGranteePrincipal() == "" || g.GranteePrincipal == req.GetGranteePrincipal() {
			resp.Grants = append(resp.Grants, s.grantEntry(k, g))
		}
		return resp, nil
	}
	list, more := s.store.ListGrants(k.ID, after, req.GetGranteePrincipal(), limit)
	for _, g := range list {
		resp.Grants = append(resp.Grants, s.grantEntry(k, g))
	}
	if more {
		resp.Truncated = true
		resp.NextMarker = encodeMarker(list[len(list)-1].ID)
	}
	return resp, nil
}

// ListRetirableGrants lists the grants, on keys of any account, whose
// retiring principal is the given principal of the caller's account.
func (s *Service) ListRetirableGrants(ctx context.Context, req *kmsv1.ListRetirableGrantsRequest) (*kmsv1.ListRetirableGrantsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(req.Limit, 100, 50)
	if err != nil {
		return nil, err
	}
	after, err := decodeMarker(req.GetMarker())
	if err != nil {
		return nil, err
	}
	afterKey, afterID, _ := strings.Cut(after, "/")
	rp := req.GetRetiringPrincipal()
	if rp == "" {
		return nil, validation("Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null")
	}
	if err := checkPrincipalMember("retiringPrincipal", rp); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:ListRetirableGrants", nil, nil); err != nil {
		return nil, err
	}
	if rpp, _ := identity.ParsePrincipal(rp); rpp.Account != p.Account {
		return nil, s.denied(ctx, ErrDenied, p, "kms:ListRetirableGrants", nil)
	}
	list, more := s.store.ListRetirableGrants(rp, afterKey, afterID, limit)
	resp := &kmsv1.ListRetirableGrantsResponse{Grants: []*kmsv1.GrantListEntry{}}
	for _, g := range list {
		if k, ok := s.store.Key(g.KeyID); ok {
			resp.Grants = append(resp.Grants, s.grantEntry(k, g))
		}
	}
	if more {
		last := list[len(list)-1]
		resp.Truncated = true
		resp.NextMarker = encodeMarker(last.KeyID + "/" + last.ID)
	}
	return resp, nil
}

// RetireGrant deletes a grant, named by its token alone or by key and
// grant id. The retiring principal, the grantee when the grant includes
// RetireGrant, and the account that owns the key may retire it.
func (s *Service) RetireGrant(ctx context.Context, req *kmsv1.RetireGrantRequest) (*kmsv1.RetireGrantResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var k *fsm.Key
	var grantID string
	if tok := req.GetGrantToken(); tok != "" {
		if len(tok) > 8192 {
			return nil, validation("Value at 'grantToken' failed to satisfy constraint: Member must have length less than or equal to 8192")
		}
		ref, err := grants.VerifyToken(ctx, s.hsm, tok)
		if err != nil {
			if errors.Is(err, grants.ErrInvalidToken) {
				return nil, invalidToken()
			}
			return nil, s.internal(ctx, "VerifyToken", err)
		}
		if err := s.linearize(ctx, ref.CreatedIndex); err != nil {
			return nil, err
		}
		grantID = hex.EncodeToString(ref.GrantID[:])
		if req.GetGrantId() != "" && req.GetGrantId() != grantID {
			return nil, newError(wire.InvalidGrantId, "The grant ID does not match the grant token.")
		}
		key, ok := s.store.Key(formatUUID(ref.KeyID))
		if !ok {
			return nil, invalidToken()
		}
		k = key
	} else {
		if req.GetKeyId() == "" || req.GetGrantId() == "" {
			return nil, validation("Specify either GrantToken, or KeyId and GrantId.")
		}
		if err := checkGrantID(req.GetGrantId()); err != nil {
			return nil, err
		}
		if k, err = s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false); err != nil {
			return nil, err
		}
		grantID = req.GetGrantId()
	}
	g, ok, err := s.grantForWrite(ctx, k.ID, grantID)
	if err != nil {
		return nil, err
	}
	if !ok {
		if req.GetGrantToken() != "" {
			return nil, invalidToken()
		}
		return nil, newError(wire.NotFound, "Grant ID %s not found.", grantID)
	}
	mayRetire := p.ARN == g.RetiringPrincipal ||
		(p.ARN == g.GranteePrincipal && grants.Set(g.Operations).Has(grants.RetireGrant)) ||
		(p.IsRoot() && p.Account == k.Account)
	if !mayRetire {
		return nil, newError(wire.AccessDenied, "User: %s is not authorized to perform: kms:RetireGrant on resource: %s because it is neither the grant's retiring principal, nor its grantee with the RetireGrant operation, nor the key's account",
			p.ARN, k.ARN)
	}
	if err := s.policyAllows(ctx, p, "kms:RetireGrant", k, nil); errors.Is(err, ErrExplicitDeny) {
		return nil, s.denied(ctx, err, p, "kms:RetireGrant", k)
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	if _, err := s.propose(ctx, &fsm.DeleteGrant{KeyID: k.ID, GrantID: grantID}); err != nil {
		return nil, err
	}
	return &kmsv1.RetireGrantResponse{}, nil
}

// RevokeGrant deletes a grant. It needs kms:RevokeGrant on the key (a
// grant cannot give it) and works in every key state; tokens are not
// accepted.
func (s *Service) RevokeGrant(ctx context.Context, req *kmsv1.RevokeGrantRequest) (*kmsv1.RevokeGrantResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetGrantId() == "" {
		return nil, validation("Value null at 'grantId' failed to satisfy constraint: Member must not be null")
	}
	if err := checkGrantID(req.GetGrantId()); err != nil {
		return nil, err
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.policyAllows(ctx, p, "kms:RevokeGrant", k, nil); err != nil {
		return nil, s.denied(ctx, err, p, "kms:RevokeGrant", k)
	}
	if _, ok, err := s.grantForWrite(ctx, k.ID, req.GetGrantId()); err != nil {
		return nil, err
	} else if !ok {
		return nil, newError(wire.NotFound, "Grant ID %s not found.", req.GetGrantId())
	}
	if req.GetDryRun() {
		return nil, dryRun()
	}
	if _, err := s.propose(ctx, &fsm.DeleteGrant{KeyID: k.ID, GrantID: req.GetGrantId()}); err != nil {
		return nil, err
	}
	return &kmsv1.RevokeGrantResponse{}, nil
}
