package kms

import (
	"context"
	"errors"
	"regexp"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

// defaultPolicyName is the name of a key's policy, the only one it has.
const defaultPolicyName = "default"

var policyNameRE = regexp.MustCompile(`^[\w]+$`)

// checkPolicyName validates a PolicyName member: optional, and "default"
// when given.
func checkPolicyName(name string) error {
	switch {
	case name == "" || name == defaultPolicyName:
		return nil
	case len(name) > 128:
		return validation("Value at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128")
	case !policyNameRE.MatchString(name):
		return validation("Value '%s' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+", name)
	}
	return newError(wire.NotFound, "No such policy exists: %s. The only key policy is named default.", name)
}

// principalDirectory tells whether IAM principals exist; the FSM is one.
type principalDirectory interface {
	User(account, name string) (*fsm.User, bool)
	Role(account, name string) (*fsm.Role, bool)
}

// checkKeyPolicy parses a key policy given to CreateKey or PutKeyPolicy
// by caller, checks that its principals exist, and (unless bypass) runs
// the lockout safety check.
func (s *Service) checkKeyPolicy(caller identity.Principal, doc string, bypass bool) error {
	if len(doc) > 131072 {
		return validation("Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072")
	}
	p, err := policy.Parse(doc, policy.KeyPolicy)
	switch {
	case errors.Is(err, policy.ErrTooLarge):
		return newError(wire.LimitExceeded, "The key policy is larger than the 32 KB (32768 bytes) limit.")
	case err != nil:
		return newError(wire.MalformedPolicyDocument, "%s", err.Error())
	}
	if dir, ok := s.store.(principalDirectory); ok {
		for _, arn := range p.Principals() {
			if !principalExists(dir, arn) {
				return newError(wire.MalformedPolicyDocument, "Policy contains a statement with one or more invalid principals: %s does not exist.", arn)
			}
		}
	}
	if !bypass {
		if err := policy.LockoutCheck(p, caller); err != nil {
			return newError(wire.MalformedPolicyDocument, "%s", err.Error())
		}
	}
	return nil
}

// principalExists reports whether a principal named in a key policy
// exists: an account root always does; a user or role when the directory
// has one with exactly that ARN. Other ARNs (assumed-role sessions,
// federated users) are accepted, as they cannot be checked.
func principalExists(dir principalDirectory, arn string) bool {
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		return true
	}
	switch p.Kind {
	case identity.KindUser:
		u, ok := dir.User(p.Account, p.Name)
		return ok && u.ARN == arn
	case identity.KindRole:
		r, ok := dir.Role(p.Account, p.Name)
		return ok && r.ARN == arn
	}
	return true
}

// keyPolicy returns a key's policy document.
func keyPolicy(k *fsm.Key) string {
	if k.Policy == "" {
		return policy.DefaultKeyPolicy(k.Account)
	}
	return k.Policy
}

// GetKeyPolicy returns a key's policy. It works in every key state.
func (s *Service) GetKeyPolicy(ctx context.Context, req *kmsv1.GetKeyPolicyRequest) (*kmsv1.GetKeyPolicyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(req.GetPolicyName()); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:GetKeyPolicy", k, nil); err != nil {
		return nil, err
	}
	return &kmsv1.GetKeyPolicyResponse{Policy: keyPolicy(k), PolicyName: defaultPolicyName}, nil
}

// ListKeyPolicies returns the names of a key's policies: always
// ["default"].
func (s *Service) ListKeyPolicies(ctx context.Context, req *kmsv1.ListKeyPoliciesRequest) (*kmsv1.ListKeyPoliciesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := pageLimit(req.Limit, 1000, 100); err != nil {
		return nil, err
	}
	if m := req.GetMarker(); m != "" {
		if len(m) > 1024 {
			return nil, validation("Value at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024")
		}
		// One page holds every policy name, so there is never a marker
		// to continue from.
		return nil, newError(wire.InvalidMarker, "The marker is not valid.")
	}
	k, err := s.resolveKey(p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:ListKeyPolicies", k, nil); err != nil {
		return nil, err
	}
	return &kmsv1.ListKeyPoliciesResponse{PolicyNames: []string{defaultPolicyName}}, nil
}

// PutKeyPolicy replaces a key's policy. The new policy must parse, name
// only existing principals, be at most 32 KB, and (unless
// BypassPolicyLockoutSafetyCheck) still let the caller put a policy. It
// works in every key state.
func (s *Service) PutKeyPolicy(ctx context.Context, req *kmsv1.PutKeyPolicyRequest) (*kmsv1.PutKeyPolicyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(req.GetPolicyName()); err != nil {
		return nil, err
	}
	if req.GetPolicy() == "" {
		return nil, validation("Value null at 'policy' failed to satisfy constraint: Member must not be null")
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	bypass := req.GetBypassPolicyLockoutSafetyCheck()
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:PutKeyPolicy", Key: k, BypassLockoutCheck: &bypass}); err != nil {
		return nil, err
	}
	if err := s.checkKeyPolicy(p, req.GetPolicy(), bypass); err != nil {
		return nil, err
	}
	if _, err := s.propose(ctx, &fsm.PutKeyPolicy{KeyID: k.ID, Policy: req.GetPolicy()}); err != nil {
		return nil, err
	}
	return &kmsv1.PutKeyPolicyResponse{}, nil
}
