package fsm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/btree"

	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

// The authorization state: key policies (stored on each Key), IAM roles,
// identity policies of users and roles, and the deny list of revoked
// client certificates.

// Role is an IAM role as replicated. Like Key, a *Role handed out by the
// FSM is immutable. Role names are unique in an account regardless of
// case, as user names are.
type Role struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// Path is "/" or "/a/b/".
	Path string `json:"path"`
	// ID is the unique role id, "AROA" and 17 upper-case letters and
	// digits (16 for roles created before ids were bound into
	// certificates). A role re-created under the same name gets a new one.
	ID string `json:"id"`
	// ARN is arn:aws:iam::<account>:role<path><name>.
	ARN        string `json:"arn"`
	CreateDate int64  `json:"create_date"` // Unix milliseconds
}

// Kinds of principal an identity policy is attached to.
const (
	PolicyOwnerUser = "user"
	PolicyOwnerRole = "role"
)

// PrincipalPolicy is an inline identity policy of a user or role
// (PutUserPolicy, PutRolePolicy).
type PrincipalPolicy struct {
	// Owner is the ARN of the user or role.
	Owner   string `json:"owner"`
	Account string `json:"account"`
	// OwnerKind is PolicyOwnerUser or PolicyOwnerRole, and OwnerName the
	// user's or role's name.
	OwnerKind string `json:"owner_kind"`
	OwnerName string `json:"owner_name"`
	// Name is the policy name, unique per owner (case-sensitive, as IAM).
	Name string `json:"name"`
	// Document is the policy JSON, as given (validated by the proposer).
	Document string `json:"document"`
}

// RevokedCert is a client certificate on the deny list.
type RevokedCert struct {
	// Serial is the certificate serial number in lowercase hex, without
	// leading zeros (big.Int.Text(16)).
	Serial string `json:"serial"`
	// Principal is who revoked it, for operators; empty when deleting the
	// certificate's principal revoked it.
	Principal string `json:"principal,omitempty"`
	RevokedAt int64  `json:"revoked_at"` // Unix milliseconds
	// Account is the account of the certificate's principal, as recorded
	// when IAM issued it. It is empty for a serial the FSM never saw
	// issued (the bootstrap admin certificate, certificates from before
	// issue records) and for records from before revocation was scoped;
	// only the cluster's admin account sees those.
	Account string `json:"account,omitempty"`
	// Owner is the ARN the certificate names, when recorded.
	Owner string `json:"owner,omitempty"`
}

// Authorization commands.
// PutKeyPolicy replaces a key's policy. It works in every key state. The
// proposer has parsed the document and run the lockout safety check.
type PutKeyPolicy struct {
	KeyID  string `json:"key_id"`
	Policy string `json:"policy"`
}

func (*PutKeyPolicy) Op() Op          { return OpPutKeyPolicy }
func (*PutKeyPolicy) validate() error { return nil }

func (c *PutKeyPolicy) apply(f *FSM, _ uint64) *Result {
	if c.Policy == "" {
		return &Result{Err: reject(wire.MalformedPolicyDocument, "The policy is empty.")}
	}
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		k.Policy = c.Policy
		return nil
	})
}

// CreateRole adds a role. A retry of the same command returns the role
// made the first time (Result.Existing); another role of the same name is
// EntityAlreadyExists.
type CreateRole struct {
	Role Role `json:"role"`
}

func (*CreateRole) Op() Op { return OpCreateRole }

func (c *CreateRole) validate() error {
	if c.Role.ID == "" {
		return errors.New("no role id")
	}
	return nil
}

func (c *CreateRole) apply(f *FSM, _ uint64) *Result {
	s := f.authz
	r := c.Role
	if r.Account == "" || r.Name == "" || r.ID == "" || r.ARN == "" {
		return &Result{Err: reject(wire.IAMValidation, "A role needs an account, a name, an id and an ARN.")}
	}
	if old, ok := s.roles.Get(&Role{Account: r.Account, Name: r.Name}); ok {
		if old.ID == r.ID {
			return &Result{Role: old, Existing: true}
		}
		return &Result{Err: reject(wire.EntityAlreadyExists, "Role with name "+r.Name+" already exists.")}
	}
	nr := r
	s.roles.ReplaceOrInsert(&nr)
	return &Result{Role: &nr}
}

// DeleteRole removes a role and its identity policies, and revokes every
// certificate issued to it (see DeleteUser).
type DeleteRole struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// RevokedAt is the proposer's time, for the deny-list records.
	RevokedAt int64 `json:"revoked_at,omitempty"` // Unix milliseconds
}

func (*DeleteRole) Op() Op          { return OpDeleteRole }
func (*DeleteRole) validate() error { return nil }

func (d *DeleteRole) apply(f *FSM, _ uint64) *Result {
	s := f.authz
	r, ok := s.roles.Get(&Role{Account: d.Account, Name: d.Name})
	if !ok {
		return &Result{Err: reject(wire.NoSuchEntity, "The role with name "+d.Name+" cannot be found.")}
	}
	s.deletePoliciesOf(r.ARN)
	f.revokeIssuedTo(r.ID, d.RevokedAt)
	s.roles.Delete(r)
	return &Result{Role: r}
}

// PutPrincipalPolicy adds or replaces an identity policy. The owner must
// exist, with exactly the ARN given.
type PutPrincipalPolicy struct {
	Policy PrincipalPolicy `json:"policy"`
}

func (*PutPrincipalPolicy) Op() Op          { return OpPutPrincipalPolicy }
func (*PutPrincipalPolicy) validate() error { return nil }

func (c *PutPrincipalPolicy) apply(f *FSM, _ uint64) *Result {
	s := f.authz
	p := c.Policy
	if p.Name == "" || p.Document == "" {
		return &Result{Err: reject(wire.IAMValidation, "A policy needs a name and a document.")}
	}
	var arn string
	switch p.OwnerKind {
	case PolicyOwnerUser:
		if u, ok := f.iam.user(p.Account, p.OwnerName); ok {
			arn = u.ARN
		}
	case PolicyOwnerRole:
		if r, ok := s.roles.Get(&Role{Account: p.Account, Name: p.OwnerName}); ok {
			arn = r.ARN
		}
	}
	if arn == "" || arn != p.Owner {
		return &Result{Err: reject(wire.NoSuchEntity, "The "+p.OwnerKind+" with name "+p.OwnerName+" cannot be found.")}
	}
	np := p
	s.policies.ReplaceOrInsert(&np)
	return &Result{Policy: &np}
}

// DeletePrincipalPolicy removes an identity policy.
type DeletePrincipalPolicy struct {
	Owner string `json:"owner"`
	Name  string `json:"name"`
}

func (*DeletePrincipalPolicy) Op() Op          { return OpDeletePrincipalPolicy }
func (*DeletePrincipalPolicy) validate() error { return nil }

func (d *DeletePrincipalPolicy) apply(f *FSM, _ uint64) *Result {
	s := f.authz
	p, ok := s.policies.Get(&PrincipalPolicy{Owner: d.Owner, Name: d.Name})
	if !ok {
		return &Result{Err: reject(wire.NoSuchEntity, "The policy with name "+d.Name+" cannot be found.")}
	}
	s.policies.Delete(p)
	return &Result{Policy: p}
}

// RevokeCert adds a certificate serial to the deny list. Revoking a serial
// twice keeps the first record.
type RevokeCert struct {
	Cert RevokedCert `json:"cert"`
	// Account is the caller's account: the serial must have been issued
	// to a principal of it (see RevokeCert.apply), unless Admin says the
	// caller is the root of the cluster's admin account. Empty in commands
	// from before revocation was scoped, which revoke any serial.
	Account string `json:"account,omitempty"`
	Admin   bool   `json:"admin,omitempty"`
}

func (*RevokeCert) Op() Op          { return OpRevokeCert }
func (*RevokeCert) validate() error { return nil }

// authzState holds roles, identity policies and revoked certificates in
// copy-on-write trees.
type authzState struct {
	roles    *btree.BTreeG[*Role]            // (account, folded name)
	policies *btree.BTreeG[*PrincipalPolicy] // (owner, name)
	revoked  *btree.BTreeG[*RevokedCert]     // serial
}

func newAuthzState() *authzState {
	return &authzState{
		roles:    btree.NewG(16, roleLess),
		policies: btree.NewG(16, principalPolicyLess),
		revoked:  btree.NewG(16, func(a, b *RevokedCert) bool { return a.Serial < b.Serial }),
	}
}

func (s *authzState) clone() *authzState {
	return &authzState{roles: s.roles.Clone(), policies: s.policies.Clone(), revoked: s.revoked.Clone()}
}

func roleLess(a, b *Role) bool {
	if a.Account != b.Account {
		return a.Account < b.Account
	}
	return compareFold(a.Name, b.Name) < 0
}

func principalPolicyLess(a, b *PrincipalPolicy) bool {
	if a.Owner != b.Owner {
		return a.Owner < b.Owner
	}
	return a.Name < b.Name
}

// policiesOf returns the identity policies of owner in name order.
func (s *authzState) policiesOf(owner string) []*PrincipalPolicy {
	var out []*PrincipalPolicy
	s.policies.AscendGreaterOrEqual(&PrincipalPolicy{Owner: owner}, func(p *PrincipalPolicy) bool {
		if p.Owner != owner {
			return false
		}
		out = append(out, p)
		return true
	})
	return out
}

func (s *authzState) deletePoliciesOf(owner string) {
	for _, p := range s.policiesOf(owner) {
		s.policies.Delete(p)
	}
}

// withDefaultPolicy gives a key without a policy (created before key
// policies were stored) the default key policy of its account.
func withDefaultPolicy(k *Key) *Key {
	if k.Policy != "" {
		return k
	}
	c := k.clone()
	c.Policy = policy.DefaultKeyPolicy(k.Account)
	return c
}

// Role returns the role of account named name, compared without regard
// to case.
func (f *FSM) Role(account, name string) (*Role, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.authz.roles.Get(&Role{Account: account, Name: name})
}

// ListRoles returns up to limit roles of account whose names sort after
// `after` (without regard to case), and whether more follow.
func (f *FSM) ListRoles(account, after string, limit int) (roles []*Role, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return pageByName(f.authz.roles, &Role{Account: account, Name: after}, func(r *Role) (string, string) { return r.Account, r.Name }, limit)
}

// PrincipalPolicy returns the identity policy name of the principal with
// ARN owner.
func (f *FSM) PrincipalPolicy(owner, name string) (*PrincipalPolicy, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.authz.policies.Get(&PrincipalPolicy{Owner: owner, Name: name})
}

// PrincipalPolicies returns the identity policies of the principal with
// ARN owner, in name order.
func (f *FSM) PrincipalPolicies(owner string) []*PrincipalPolicy {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.authz.policiesOf(owner)
}

// CertRevoked reports whether the certificate with serial (lowercase hex)
// is on the deny list.
func (f *FSM) CertRevoked(serial string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.authz.revoked.Get(&RevokedCert{Serial: serial})
	return ok
}

// RevokedCerts returns the deny-list records of account in serial order,
// or with all, every record (for the cluster's admin account).
func (f *FSM) RevokedCerts(account string, all bool) []*RevokedCert {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*RevokedCert
	f.authz.revoked.Ascend(func(r *RevokedCert) bool {
		if all || r.Account == account {
			out = append(out, r)
		}
		return true
	})
	return out
}

// writeAuthz writes the authorization records of a snapshot: roles, then
// identity policies, then revoked certificates, each in tree order.
func (s *Snapshot) writeAuthz(enc *json.Encoder) error {
	if err := encodeTree(enc, s.authz.roles, func(r *Role) snapshotRecord { return snapshotRecord{Role: r} }); err != nil {
		return err
	}
	if err := encodeTree(enc, s.authz.policies, func(p *PrincipalPolicy) snapshotRecord { return snapshotRecord{PrincipalPolicy: p} }); err != nil {
		return err
	}
	return encodeTree(enc, s.authz.revoked, func(r *RevokedCert) snapshotRecord { return snapshotRecord{RevokedCert: r} })
}

// restore adds one authorization record of a snapshot.
func (s *authzState) restore(rec *snapshotRecord) error {
	switch {
	case rec.Role != nil && rec.Role.Name != "" && rec.Role.Account != "":
		if _, dup := s.roles.ReplaceOrInsert(rec.Role); dup {
			return fmt.Errorf("%w: duplicate role %s", ErrSnapshotFormat, rec.Role.ARN)
		}
	case rec.PrincipalPolicy != nil && rec.PrincipalPolicy.Owner != "" && rec.PrincipalPolicy.Name != "":
		if _, dup := s.policies.ReplaceOrInsert(rec.PrincipalPolicy); dup {
			return fmt.Errorf("%w: duplicate policy %s of %s", ErrSnapshotFormat, rec.PrincipalPolicy.Name, rec.PrincipalPolicy.Owner)
		}
	case rec.RevokedCert != nil && rec.RevokedCert.Serial != "":
		if _, dup := s.revoked.ReplaceOrInsert(rec.RevokedCert); dup {
			return fmt.Errorf("%w: duplicate revoked serial %s", ErrSnapshotFormat, rec.RevokedCert.Serial)
		}
	default:
		return fmt.Errorf("%w: empty authorization record", ErrSnapshotFormat)
	}
	return nil
}
