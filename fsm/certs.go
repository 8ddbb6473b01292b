package fsm

import (
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/google/btree"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// Client certificates: the record of every certificate issued through IAM
// under its principal, their revocation (by RevokeCert, or all at once when
// the principal is deleted) and the check the authentication layer makes
// on every request ([FSM.CheckCert]).
//
// A certificate of a user or role names the principal's ARN and carries its
// unique id (identity.Principal.ID). A principal deleted and re-created
// under the same name gets a new id, so the old certificates name a
// principal that no longer exists even if nothing revoked them; deleting a
// principal also puts every serial issued to it on the deny list, in the
// same command, so that nothing depends on one check alone.

// IssuedCert is a client certificate issued through IAM to a user or role,
// as replicated. Like Key, an *IssuedCert handed out by the FSM is
// immutable.
type IssuedCert struct {
	// Serial is the serial number in lowercase hex without leading zeros.
	Serial  string `json:"serial"`
	Account string `json:"account"`
	// Principal is the ARN the certificate names; PrincipalID the unique
	// id of the user or role it was issued to.
	Principal   string `json:"principal"`
	PrincipalID string `json:"principal_id"`
	IssuedAt    int64  `json:"issued_at"` // Unix milliseconds
	NotAfter    int64  `json:"not_after"` // Unix milliseconds
}

// RecordCert records a certificate issued to a user or role. The principal
// must exist with exactly the ARN and id given: a certificate signed while
// its principal was being deleted is refused here, in log order, and
// never handed out. A retry of the same record returns the first one
// (Result.Existing).
type RecordCert struct {
	Cert IssuedCert `json:"cert"`
}

func (*RecordCert) Op() Op { return OpRecordCert }

func (c *RecordCert) validate() error {
	if c.Cert.Serial == "" {
		return errors.New("no serial")
	}
	return nil
}

// Errors of [FSM.CheckCert]. Each is a reason to refuse the request.
var (
	// ErrCertRevoked: the serial is on the deny list.
	ErrCertRevoked = errors.New("the client certificate has been revoked")
	// ErrCertPrincipalGone: the user or role the certificate names no
	// longer exists.
	ErrCertPrincipalGone = errors.New("the principal of the client certificate no longer exists")
	// ErrCertPrincipalIDMismatch: a user or role of that name exists, but
	// it is not the one the certificate was issued to (it was deleted and
	// re-created).
	ErrCertPrincipalIDMismatch = errors.New("the client certificate was issued to an earlier principal of the same name")
	// ErrCertNoPrincipalID: the certificate names a user or role but
	// carries no unique id: it was issued before ids were carried, and
	// cannot be told from a certificate of an earlier principal of the
	// same name.
	ErrCertNoPrincipalID = errors.New("the client certificate carries no principal id; issue a new one")
)

// certState holds issued and revoked certificates. The trees are
// copy-on-write; issuedBy is derived and rebuilt on restore.
type certState struct {
	issued   *btree.BTreeG[*IssuedCert] // serial
	issuedBy *btree.BTreeG[*IssuedCert] // (principal id, serial)
}

func newCertState() *certState {
	return &certState{
		issued:   btree.NewG(16, func(a, b *IssuedCert) bool { return a.Serial < b.Serial }),
		issuedBy: btree.NewG(16, issuedByLess),
	}
}

func (s *certState) clone() *certState {
	return &certState{issued: s.issued.Clone(), issuedBy: s.issuedBy.Clone()}
}

func issuedByLess(a, b *IssuedCert) bool {
	if a.PrincipalID != b.PrincipalID {
		return a.PrincipalID < b.PrincipalID
	}
	return a.Serial < b.Serial
}

func (s *certState) insert(c *IssuedCert) {
	s.issued.ReplaceOrInsert(c)
	s.issuedBy.ReplaceOrInsert(c)
}

// issuedTo returns the certificates issued to the principal with unique id
// id, in serial order.
func (s *certState) issuedTo(id string) []*IssuedCert {
	var out []*IssuedCert
	s.issuedBy.AscendGreaterOrEqual(&IssuedCert{PrincipalID: id}, func(c *IssuedCert) bool {
		if c.PrincipalID != id {
			return false
		}
		out = append(out, c)
		return true
	})
	return out
}

// validSerial reports whether s is a serial as the deny list writes it:
// lowercase hex without leading zeros (big.Int.Text(16) of a positive
// serial).
func validSerial(s string) bool {
	return s != "" && s[0] != '0' && strings.Trim(s, "0123456789abcdef") == ""
}

// principalID returns the unique id of the user or role p names (by
// ARN, so a user and a role of the same name are told apart), and whether
// it exists. f.mu is held.
func (f *FSM) principalID(p identity.Principal) (string, bool) {
	switch p.Kind {
	case identity.KindUser:
		if u, ok := f.iam.user(p.Account, p.Name); ok && u.ARN == p.ARN {
			return u.ID, true
		}
	case identity.KindRole:
		if r, ok := f.authz.roles.Get(&Role{Account: p.Account, Name: p.Name}); ok && r.ARN == p.ARN {
			return r.ID, true
		}
	}
	return "", false
}

// apply records the certificate. f.mu is held.
func (c *RecordCert) apply(f *FSM, _ uint64) *Result {
	rc := c.Cert
	if !validSerial(rc.Serial) {
		return &Result{Err: reject(wire.IAMValidation, "A certificate serial is lowercase hex without leading zeros.")}
	}
	p, err := identity.ParsePrincipal(rc.Principal)
	if err != nil || p.Account != rc.Account || p.IsRoot() {
		return &Result{Err: reject(wire.IAMValidation, "A certificate is recorded under a user or role of its account.")}
	}
	if old, ok := f.certs.issued.Get(&rc); ok {
		if *old == rc {
			return &Result{Cert: old, Existing: true}
		}
		return &Result{Err: reject(wire.ServiceFailure, "certificate serial collision")}
	}
	if _, ok := f.authz.revoked.Get(&RevokedCert{Serial: rc.Serial}); ok {
		return &Result{Err: reject(wire.ServiceFailure, "certificate serial collision")}
	}
	if id, ok := f.principalID(p); !ok || id != rc.PrincipalID {
		return &Result{Err: reject(wire.NoSuchEntity, "The "+p.Kind.String()+" with name "+p.Name+" cannot be found.")}
	}
	n := rc
	f.certs.insert(&n)
	return &Result{Cert: &n}
}

// revokeIssuedTo puts every certificate issued to the principal with unique
// id id on the deny list and forgets their issue records; DeleteUser and
// DeleteRole call it. f.mu is held.
func (f *FSM) revokeIssuedTo(id string, at int64) {
	for _, c := range f.certs.issuedTo(id) {
		f.certs.issued.Delete(c)
		f.certs.issuedBy.Delete(c)
		if _, ok := f.authz.revoked.Get(&RevokedCert{Serial: c.Serial}); ok {
			continue
		}
		f.authz.revoked.ReplaceOrInsert(&RevokedCert{Serial: c.Serial, Account: c.Account, Owner: c.Principal, RevokedAt: at})
	}
}

// apply puts the serial on the deny list. f.mu is held.
//
// A revocation is scoped to the account of the certificate's principal, as
// recorded when it was issued: the root of another account learns nothing
// of a serial that is not its own, and gets the same NoSuchEntity as for
// a serial nobody issued. The cluster's admin account (Admin) may revoke
// any serial, including ones the FSM never recorded (the bootstrap admin
// certificate, certificates issued before issue records existed).
func (c *RevokeCert) apply(f *FSM, _ uint64) *Result {
	s := f.authz
	rc := c.Cert
	if rc.Serial == "" || strings.Trim(rc.Serial, "0123456789abcdef") != "" {
		return &Result{Err: reject(wire.IAMValidation, "A certificate serial is lowercase hex.")}
	}
	if c.Account == "" {
		// A command from before revocation was scoped: the proposer let
		// any account root revoke any serial, and a replay must reach the
		// state the first application reached.
		if old, ok := s.revoked.Get(&rc); ok {
			return &Result{Revoked: old, Existing: true}
		}
		n := rc
		s.revoked.ReplaceOrInsert(&n)
		return &Result{Revoked: &n}
	}
	notFound := &Result{Err: reject(wire.NoSuchEntity, "The certificate with serial number "+rc.Serial+" cannot be found.")}
	if old, ok := s.revoked.Get(&rc); ok {
		if !c.Admin && old.Account != c.Account {
			return notFound
		}
		return &Result{Revoked: old, Existing: true}
	}
	n := rc
	n.Account = ""
	if ic, ok := f.certs.issued.Get(&IssuedCert{Serial: rc.Serial}); ok {
		n.Account, n.Owner = ic.Account, ic.Principal
	}
	if !c.Admin && n.Account != c.Account {
		return notFound
	}
	s.revoked.ReplaceOrInsert(&n)
	return &Result{Revoked: &n}
}

// CheckCert decides whether a client certificate may still authenticate,
// for every route that accepts client certificates. It returns nil, or
// ErrCertRevoked when its serial is on the deny list; for a certificate of
// a user or role, ErrCertPrincipalGone when no user or role has that ARN,
// ErrCertNoPrincipalID when it carries no unique id, and
// ErrCertPrincipalIDMismatch when the principal of that ARN has another
// id. A root certificate is checked against the deny list only: accounts
// are not deleted. Certificates that name no principal (node
// certificates) are checked against the deny list only; whether they may
// call a route is the route's decision.
//
// CheckCert only ever refuses: pass it the leaf the client presented,
// verified or not.
func (f *FSM) CheckCert(cert *x509.Certificate) error {
	if cert == nil {
		return nil
	}
	p, err := identity.PrincipalFromCert(cert)
	if err != nil {
		return f.CheckCertOf(cert, nil)
	}
	return f.CheckCertOf(cert, &p)
}

// CheckCertOf is CheckCert for a caller that has parsed the certificate
// already: p must be what identity.PrincipalFromCert(cert) returned, nil
// if it returned an error (the certificate names no principal).
func (f *FSM) CheckCertOf(cert *x509.Certificate, p *identity.Principal) error {
	if cert == nil || cert.SerialNumber == nil {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, ok := f.authz.revoked.Get(&RevokedCert{Serial: cert.SerialNumber.Text(16)}); ok {
		return ErrCertRevoked
	}
	if p == nil || (p.Kind != identity.KindUser && p.Kind != identity.KindRole) {
		return nil
	}
	id, ok := f.principalID(*p)
	switch {
	case !ok:
		return ErrCertPrincipalGone
	case p.ID == "":
		return ErrCertNoPrincipalID
	case p.ID != id:
		return ErrCertPrincipalIDMismatch
	}
	return nil
}

// CertPruneGrace is how long the records of a certificate are kept after
// it expired. Past it every node refuses the certificate by its expiry
// alone (at the TLS handshake, and on every request of a connection that
// outlived it), also a node whose clock lags the leader's by less than
// the grace, so its issue record and its place on the deny list are no
// longer needed.
const CertPruneGrace = 7 * 24 * time.Hour

// PruneCerts forgets the certificates that expired before Before (Unix
// milliseconds): their issue records and, for the revoked ones, their
// deny-list records. The leader's lifecycle pass proposes it with Before
// CertPruneGrace behind its clock; the cutoff travels in the command, so
// a later change of the grace does not change how a logged command
// applies. Only certificates with an issue record have a known expiry;
// deny-list records of other serials (the certificates of a deleted user
// or role, whose issue records the deletion dropped, node certificates,
// serials the FSM never saw issued) are kept.
type PruneCerts struct {
	Before int64 `json:"before"`
}

func (*PruneCerts) Op() Op { return OpPruneCerts }

func (*PruneCerts) validate() error { return nil }

// apply removes what expiredBefore finds. f.mu is held.
func (c *PruneCerts) apply(f *FSM, _ uint64) *Result {
	n := 0
	for _, ic := range f.expiredBefore(c.Before) {
		f.certs.issued.Delete(ic)
		f.certs.issuedBy.Delete(ic)
		n++
		if _, ok := f.authz.revoked.Delete(&RevokedCert{Serial: ic.Serial}); ok {
			n++
		}
	}
	return &Result{Pruned: n}
}

// expiredBefore returns the issue records of certificates whose NotAfter
// is before cutoff. f.mu is held.
func (f *FSM) expiredBefore(cutoff int64) []*IssuedCert {
	var out []*IssuedCert
	f.certs.issued.Ascend(func(c *IssuedCert) bool {
		if c.NotAfter < cutoff {
			out = append(out, c)
		}
		return true
	})
	return out
}

// CertsToPrune reports how many issue records a PruneCerts with cutoff
// before (Unix milliseconds) would remove: the leader proposes one only
// when some are.
func (f *FSM) CertsToPrune(before int64) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.expiredBefore(before))
}

// IssuedCert returns the issue record of the certificate with serial.
func (f *FSM) IssuedCert(serial string) (*IssuedCert, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.certs.issued.Get(&IssuedCert{Serial: serial})
}

// ListCertificates returns up to limit certificates issued to the principal
// with unique id principalID whose serials sort after `after`, in serial
// order, and whether more follow.
func (f *FSM) ListCertificates(principalID, after string, limit int) (out []*IssuedCert, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.certs.issuedBy.AscendGreaterOrEqual(&IssuedCert{PrincipalID: principalID, Serial: after}, func(c *IssuedCert) bool {
		if c.PrincipalID != principalID {
			return false
		}
		if c.Serial <= after {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, c)
		return true
	})
	return out, more
}
