package iam

import (
	"context"
	"errors"
	"math/big"
	"strings"

	"github.com/trentkms/trent/fsm"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

// MalformedPolicyDocument is IAM's error for a policy that does not parse.
const MalformedPolicyDocument = "MalformedPolicyDocument"

// AuthzStore is the read side of the authorization state: roles, identity
// policies and revoked certificates (the FSM).
type AuthzStore interface {
	Role(account, name string) (*fsm.Role, bool)
	ListRoles(account, after string, limit int) ([]*fsm.Role, bool)
	PrincipalPolicy(owner, name string) (*fsm.PrincipalPolicy, bool)
	PrincipalPolicies(owner string) []*fsm.PrincipalPolicy
	RevokedCerts(account string, all bool) []*fsm.RevokedCert
	CertRevoked(serial string) bool
	ListCertificates(principalID, after string, limit int) ([]*fsm.IssuedCert, bool)
}

// Explainer explains authorization decisions; *kms.Service is one.
type Explainer interface {
	ExplainAuthorization(ctx context.Context, p identity.Principal, action, keyID string, ec map[string]string) (*policy.Explanation, error)
}

// authzStore returns the store as an AuthzStore, or an error if it is not
// one (New checks this, so only a broken configuration fails here).
func (s *Service) authzStore() (AuthzStore, error) {
	as, ok := s.store.(AuthzStore)
	if !ok {
		return nil, newError(wire.ServiceFailure, "internal error")
	}
	return as, nil
}

// --- Roles ---

// CreateRole creates a role in the caller's account.
func (s *Service) CreateRole(ctx context.Context, req *iamv1.CreateRoleRequest) (*iamv1.CreateRoleResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkName("roleName", req.RoleName); err != nil {
		return nil, err
	}
	path, arn, id, err := s.newPrincipal(ctx, p, "CreateRole", "AROA", req.Path, func(path string) string { return roleARN(p.Account, path, req.RoleName) })
	if err != nil {
		return nil, err
	}
	r, err := s.propose(ctx, &fsm.CreateRole{Role: fsm.Role{
		Account: p.Account, Name: req.RoleName, Path: path, ID: id, ARN: arn, CreateDate: s.now().UnixMilli(),
	}})
	if err != nil {
		return nil, err
	}
	return &iamv1.CreateRoleResponse{Role: roleOut(r.Role)}, nil
}

// GetRole returns a role of the caller's account.
func (s *Service) GetRole(ctx context.Context, req *iamv1.GetRoleRequest) (*iamv1.GetRoleResponse, error) {
	r, err := s.role(ctx, "GetRole", req.RoleName)
	if err != nil {
		return nil, err
	}
	return &iamv1.GetRoleResponse{Role: roleOut(r)}, nil
}

// ListRoles lists the roles of the caller's account whose path starts
// with PathPrefix, in name order.
func (s *Service) ListRoles(ctx context.Context, req *iamv1.ListRolesRequest) (*iamv1.ListRolesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.authzStore()
	if err != nil {
		return nil, err
	}
	limit, err := maxItems(req.MaxItems)
	if err != nil {
		return nil, err
	}
	prefix, err := checkListing(req.PathPrefix, req.Marker)
	if err != nil {
		return nil, err
	}
	if err := requireRoot(p, "ListRoles", "arn:aws:iam::"+p.Account+":role/"); err != nil {
		return nil, err
	}
	roles, truncated := listByPath(func(after string, n int) ([]*fsm.Role, bool) { return st.ListRoles(p.Account, after, n) },
		func(r *fsm.Role) (string, string) { return r.Name, r.Path }, req.Marker, prefix, limit)
	resp := &iamv1.ListRolesResponse{Roles: make([]*iamv1.Role, 0, len(roles)), IsTruncated: truncated}
	for _, r := range roles {
		resp.Roles = append(resp.Roles, roleOut(r))
	}
	if truncated {
		resp.Marker = roles[len(roles)-1].Name
	}
	return resp, nil
}

// DeleteRole deletes a role of the caller's account and its policies, and
// revokes every certificate issued to it.
func (s *Service) DeleteRole(ctx context.Context, req *iamv1.DeleteRoleRequest) (*iamv1.DeleteRoleResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkName("roleName", req.RoleName); err != nil {
		return nil, err
	}
	if err := requireRoot(p, "DeleteRole", roleARN(p.Account, "/", req.RoleName)); err != nil {
		return nil, err
	}
	if _, err := s.propose(ctx, &fsm.DeleteRole{Account: p.Account, Name: req.RoleName, RevokedAt: s.now().UnixMilli()}); err != nil {
		return nil, err
	}
	return &iamv1.DeleteRoleResponse{}, nil
}

// role finds a role of the caller's account; only the root may act on
// roles.
func (s *Service) role(ctx context.Context, action, name string) (*fsm.Role, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkName("roleName", name); err != nil {
		return nil, err
	}
	st, err := s.authzStore()
	if err != nil {
		return nil, err
	}
	r, ok := st.Role(p.Account, name)
	arn := roleARN(p.Account, "/", name)
	if ok {
		arn = r.ARN
	}
	if err := requireRoot(p, action, arn); err != nil {
		return nil, err
	}
	if !ok {
		return nil, newError(wire.NoSuchEntity, "The role with name %s cannot be found.", name)
	}
	return r, nil
}

func roleARN(account, path, name string) string {
	return "arn:aws:iam::" + account + ":role" + path + name
}

func roleOut(r *fsm.Role) *iamv1.Role {
	return &iamv1.Role{Path: r.Path, RoleName: r.Name, RoleId: r.ID, Arn: r.ARN, CreateDate: isoDate(r.CreateDate)}
}

// checkName applies IAM's name constraints (1 to 64 of [\w+=,.@-]; 128
// for policy names) to the member field.
func checkName(field, name string) error {
	max := 64
	if field == "policyName" {
		max = 128
	}
	switch {
	case name == "":
		return validation("Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	case len(name) > max:
		return validation("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", name, field, max)
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return validation("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name, field)
		}
	}
	return nil
}

// --- Inline identity policies ---

// policyOwner resolves the user or role an inline-policy call names; only
// the account root manages policies.
func (s *Service) policyOwner(ctx context.Context, action, kind, name string) (owner string, account string, err error) {
	p, err := caller(ctx)
	if err != nil {
		return "", "", err
	}
	if kind == fsm.PolicyOwnerUser {
		if err := checkUserName(name); err != nil {
			return "", "", err
		}
		if err := requireRoot(p, action, userARN(p.Account, "/", name)); err != nil {
			return "", "", err
		}
		u, ok := s.store.User(p.Account, name)
		if !ok {
			return "", "", noSuchUser(name)
		}
		return u.ARN, p.Account, nil
	}
	r, err := s.role(ctx, action, name)
	if err != nil {
		return "", "", err
	}
	return r.ARN, p.Account, nil
}

func (s *Service) putPolicy(ctx context.Context, action, kind, name, policyName, doc string) error {
	if err := checkName("policyName", policyName); err != nil {
		return err
	}
	if doc == "" {
		return validation("Value null at 'policyDocument' failed to satisfy constraint: Member must not be null")
	}
	owner, account, err := s.policyOwner(ctx, action, kind, name)
	if err != nil {
		return err
	}
	switch _, err := policy.Parse(doc, policy.IdentityPolicy); {
	case errors.Is(err, policy.ErrTooLarge):
		return newError(wire.IAMLimitExceeded, "Maximum policy size of %d bytes exceeded for %s %s.", policy.MaxIdentityPolicyChars, kind, name)
	case err != nil:
		return newError(MalformedPolicyDocument, "%s", err.Error())
	}
	_, err = s.propose(ctx, &fsm.PutPrincipalPolicy{Policy: fsm.PrincipalPolicy{
		Owner: owner, Account: account, OwnerKind: kind, OwnerName: name, Name: policyName, Document: doc}})
	return err
}

func (s *Service) getPolicy(ctx context.Context, action, kind, name, policyName string) (string, error) {
	if err := checkName("policyName", policyName); err != nil {
		return "", err
	}
	owner, _, err := s.policyOwner(ctx, action, kind, name)
	if err != nil {
		return "", err
	}
	st, err := s.authzStore()
	if err != nil {
		return "", err
	}
	pp, ok := st.PrincipalPolicy(owner, policyName)
	if !ok {
		return "", newError(wire.NoSuchEntity, "The %s policy with name %s cannot be found.", kind, policyName)
	}
	return pp.Document, nil
}

func (s *Service) listPolicies(ctx context.Context, action, kind, name string) ([]string, error) {
	owner, _, err := s.policyOwner(ctx, action, kind, name)
	if err != nil {
		return nil, err
	}
	st, err := s.authzStore()
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, pp := range st.PrincipalPolicies(owner) {
		names = append(names, pp.Name)
	}
	return names, nil
}

func (s *Service) deletePolicy(ctx context.Context, action, kind, name, policyName string) error {
	if err := checkName("policyName", policyName); err != nil {
		return err
	}
	owner, _, err := s.policyOwner(ctx, action, kind, name)
	if err != nil {
		return err
	}
	_, err = s.propose(ctx, &fsm.DeletePrincipalPolicy{Owner: owner, Name: policyName})
	if err != nil && wire.TypeOf(err) == wire.NoSuchEntity {
		return newError(wire.NoSuchEntity, "The %s policy with name %s cannot be found.", kind, policyName)
	}
	return err
}

// PutUserPolicy adds or replaces an inline policy of a user.
func (s *Service) PutUserPolicy(ctx context.Context, req *iamv1.PutUserPolicyRequest) (*iamv1.PutUserPolicyResponse, error) {
	if err := s.putPolicy(ctx, "PutUserPolicy", fsm.PolicyOwnerUser, req.UserName, req.PolicyName, req.PolicyDocument); err != nil {
		return nil, err
	}
	return &iamv1.PutUserPolicyResponse{}, nil
}

// GetUserPolicy returns an inline policy of a user.
func (s *Service) GetUserPolicy(ctx context.Context, req *iamv1.GetUserPolicyRequest) (*iamv1.GetUserPolicyResponse, error) {
	doc, err := s.getPolicy(ctx, "GetUserPolicy", fsm.PolicyOwnerUser, req.UserName, req.PolicyName)
	if err != nil {
		return nil, err
	}
	return &iamv1.GetUserPolicyResponse{UserName: req.UserName, PolicyName: req.PolicyName, PolicyDocument: doc}, nil
}

// ListUserPolicies lists the names of a user's inline policies.
func (s *Service) ListUserPolicies(ctx context.Context, req *iamv1.ListUserPoliciesRequest) (*iamv1.ListUserPoliciesResponse, error) {
	names, err := s.listPolicies(ctx, "ListUserPolicies", fsm.PolicyOwnerUser, req.UserName)
	if err != nil {
		return nil, err
	}
	return &iamv1.ListUserPoliciesResponse{PolicyNames: names}, nil
}

// DeleteUserPolicy deletes an inline policy of a user.
func (s *Service) DeleteUserPolicy(ctx context.Context, req *iamv1.DeleteUserPolicyRequest) (*iamv1.DeleteUserPolicyResponse, error) {
	if err := s.deletePolicy(ctx, "DeleteUserPolicy", fsm.PolicyOwnerUser, req.UserName, req.PolicyName); err != nil {
		return nil, err
	}
	return &iamv1.DeleteUserPolicyResponse{}, nil
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Service) PutRolePolicy(ctx context.Context, req *iamv1.PutRolePolicyRequest) (*iamv1.PutRolePolicyResponse, error) {
	if err := s.putPolicy(ctx, "PutRolePolicy", fsm.PolicyOwnerRole, req.RoleName, req.PolicyName, req.PolicyDocument); err != nil {
		return nil, err
	}
	return &iamv1.PutRolePolicyResponse{}, nil
}

// GetRolePolicy returns an inline policy of a role.
func (s *Service) GetRolePolicy(ctx context.Context, req *iamv1.GetRolePolicyRequest) (*iamv1.GetRolePolicyResponse, error) {
	doc, err := s.getPolicy(ctx, "GetRolePolicy", fsm.PolicyOwnerRole, req.RoleName, req.PolicyName)
	if err != nil {
		return nil, err
	}
	return &iamv1.GetRolePolicyResponse{RoleName: req.RoleName, PolicyName: req.PolicyName, PolicyDocument: doc}, nil
}

// ListRolePolicies lists the names of a role's inline policies.
func (s *Service) ListRolePolicies(ctx context.Context, req *iamv1.ListRolePoliciesRequest) (*iamv1.ListRolePoliciesResponse, error) {
	names, err := s.listPolicies(ctx, "ListRolePolicies", fsm.PolicyOwnerRole, req.RoleName)
	if err != nil {
		return nil, err
	}
	return &iamv1.ListRolePoliciesResponse{PolicyNames: names}, nil
}

// DeleteRolePolicy deletes an inline policy of a role.
func (s *Service) DeleteRolePolicy(ctx context.Context, req *iamv1.DeleteRolePolicyRequest) (*iamv1.DeleteRolePolicyResponse, error) {
	if err := s.deletePolicy(ctx, "DeleteRolePolicy", fsm.PolicyOwnerRole, req.RoleName, req.PolicyName); err != nil {
		return nil, err
	}
	return &iamv1.DeleteRolePolicyResponse{}, nil
}

// --- Certificate revocation ---

// NormalizeSerial turns a certificate serial in hex (any case, colons
// allowed, as openssl prints it) into the deny list's form: lowercase hex
// without leading zeros. ok is false if s is not such a serial.
func NormalizeSerial(s string) (string, bool) {
	h := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), ":", "")
	if h == "" || len(h) > 40 {
		return "", false
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() < 0 {
		return "", false
	}
	return n.Text(16), true
}

// RevokeCert adds a certificate serial to the replicated deny list. Only
// an account root may revoke, and only the certificates IAM issued to its
// account's users and roles; the FSM decides that against the serial's
// issue record, so a serial of another account is NoSuchEntity, as is one
// never issued. The root of the admin account may revoke any serial.
func (s *Service) RevokeCert(ctx context.Context, req *iamv1.RevokeCertRequest) (*iamv1.RevokeCertResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	serial, ok := NormalizeSerial(req.SerialNumber)
	if !ok {
		return nil, validation("Value '%s' at 'serialNumber' failed to satisfy constraint: Member must be a certificate serial number in hex of at most 20 bytes", req.SerialNumber)
	}
	if err := requireRoot(p, "RevokeCert", "arn:aws:iam::"+p.Account+":certificate/"+serial); err != nil {
		return nil, err
	}
	r, err := s.propose(ctx, &fsm.RevokeCert{
		Account: p.Account, Admin: s.isAdmin(p),
		Cert: fsm.RevokedCert{Serial: serial, Principal: p.ARN, RevokedAt: s.now().UnixMilli()}})
	if err != nil {
		return nil, err
	}
	return &iamv1.RevokeCertResponse{SerialNumber: r.Revoked.Serial}, nil
}

// ListRevokedCerts lists the deny list of the caller's account, or the
// whole deny list for the root of the admin account. Only a root may.
func (s *Service) ListRevokedCerts(ctx context.Context, _ *iamv1.ListRevokedCertsRequest) (*iamv1.ListRevokedCertsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireRoot(p, "ListRevokedCerts", "arn:aws:iam::"+p.Account+":certificate/"); err != nil {
		return nil, err
	}
	st, err := s.authzStore()
	if err != nil {
		return nil, err
	}
	resp := &iamv1.ListRevokedCertsResponse{RevokedCerts: []*iamv1.RevokedCert{}}
	for _, r := range st.RevokedCerts(p.Account, s.isAdmin(p)) {
		resp.RevokedCerts = append(resp.RevokedCerts, &iamv1.RevokedCert{SerialNumber: r.Serial, RevokeDate: isoDate(r.RevokedAt)})
	}
	return resp, nil
}

// isAdmin reports whether p is the root of the cluster's admin account.
func (s *Service) isAdmin(p identity.Principal) bool {
	return s.admin != "" && p.IsRoot() && p.Account == s.admin
}

// --- Explain ---

// Explain says whether a principal of the caller's account may perform a
// KMS action on a key, and which statements or grant decide. Only the
// account root may ask, as it may read every policy involved.
func (s *Service) Explain(ctx context.Context, req *iamv1.ExplainRequest) (*iamv1.ExplainResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Principal == "" {
		return nil, validation("Value null at 'principal' failed to satisfy constraint: Member must not be null")
	}
	target, err := identity.ParsePrincipal(req.Principal)
	if err != nil || target.Kind == identity.KindNode {
		return nil, validation("Value '%s' at 'principal' failed to satisfy constraint: Member must be an IAM principal ARN", req.Principal)
	}
	if req.Action == "" {
		return nil, validation("Value null at 'action' failed to satisfy constraint: Member must not be null")
	}
	if err := requireRoot(p, "Explain", target.ARN); err != nil {
		return nil, err
	}
	if target.Account != p.Account {
		return nil, denied(p, "Explain", target.ARN)
	}
	if s.explainer == nil {
		return nil, newError(wire.UnsupportedOperation, "Explain is not available on this node.")
	}
	x, err := s.explainer.ExplainAuthorization(ctx, target, req.Action, req.KeyId, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	d := x.Decision
	resp := &iamv1.ExplainResponse{Decision: "denied", Reason: d.Reason.String(), GrantId: d.GrantID,
		Resource: x.Resource, Explanation: x.Text, Statements: []*iamv1.ExplainStatement{}}
	if d.Allowed {
		resp.Decision = "allowed"
	}
	for _, st := range d.Statements {
		resp.Statements = append(resp.Statements, &iamv1.ExplainStatement{PolicyType: st.Kind.String(), PolicyName: st.Policy,
			Index: int32(st.Index), Sid: st.Sid, Effect: st.Effect.String(), Delegates: st.Delegates})
	}
	return resp, nil
}
