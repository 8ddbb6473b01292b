package policy

import (
	"strconv"
	"strings"

	"github.com/trentkms/trent/ciphertext"
	"github.com/trentkms/trent/identity"
)

// Reason says why a [Decision] came out as it did.
type Reason uint8

// The reasons. The zero Reason is ImplicitDeny, so a zero Decision denies.
const (
	// ImplicitDeny: nothing allowed the request (or an allow was not
	// enough on its own, such as a key-policy delegation without an
	// identity-policy allow).
	ImplicitDeny Reason = iota
	// ExplicitDeny: a Deny statement applied. Nothing overrides it, not
	// even a grant.
	ExplicitDeny
	// KeyPolicyAllow: the key policy allowed the caller by itself.
	KeyPolicyAllow
	// IdentityPolicyAllow: an identity policy of the caller allowed the
	// request, and the key policy delegated to the caller's account or,
	// across accounts, allowed the caller or its account.
	IdentityPolicyAllow
	// GrantAllow: a grant allowed the request. Evaluate never returns it;
	// the KMS layer does, after Evaluate implicitly denied.
	GrantAllow
)

// String returns the reason's name, such as "ExplicitDeny".
func (r Reason) String() string {
	switch r {
	case ImplicitDeny:
		return "ImplicitDeny"
	case ExplicitDeny:
		return "ExplicitDeny"
	case KeyPolicyAllow:
		return "KeyPolicyAllow"
	case IdentityPolicyAllow:
		return "IdentityPolicyAllow"
	case GrantAllow:
		return "GrantAllow"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// A StatementRef names one statement that took part in a decision.
type StatementRef struct {
	// Policy is the policy's name: "default" for the key policy, the name
	// given with [Policy.Named] for an identity policy, or "".
	Policy string
	// Kind is KeyPolicy or IdentityPolicy.
	Kind Kind
	// PolicyIndex is the identity policy's index in the list given to
	// Evaluate; 0 for the key policy.
	PolicyIndex int
	// Index is the statement's index in its policy, and Sid its Sid.
	Index int
	Sid   string
	// Effect is the statement's effect.
	Effect Effect
	// Delegates is set on a key-policy Allow that applied to the caller
	// only through its account (arn:aws:iam::<account>:root or the bare
	// account ID), which delegates to the account's identity policies.
	Delegates bool
}

// String renders the reference as in `key policy "default"
// Statement[0] (Sid "Enable IAM User Permissions")`.
func (s StatementRef) String() string {
	var b strings.Builder
	b.WriteString(s.Kind.String())
	b.WriteByte(' ')
	if s.Policy != "" {
		b.WriteString(quote(s.Policy))
	} else {
		b.WriteString("#")
		b.WriteString(strconv.Itoa(s.PolicyIndex))
	}
	b.WriteString(" Statement[")
	b.WriteString(strconv.Itoa(s.Index))
	b.WriteString("]")
	if s.Sid != "" {
		b.WriteString(" (Sid ")
		b.WriteString(quote(s.Sid))
		b.WriteString(")")
	}
	return b.String()
}

// A Decision is the outcome of [Evaluate].
type Decision struct {
	// Allowed reports whether the policies allow the request.
	Allowed bool
	// Reason says why.
	Reason Reason
	// Statements are the statements that decided, key policy first:
	//   - ExplicitDeny: every Deny that applied;
	//   - KeyPolicyAllow: the key-policy Allow;
	//   - IdentityPolicyAllow: the key-policy Allow that delegated (or
	//     allowed the caller across accounts), then the identity-policy
	//     Allow;
	//   - ImplicitDeny: the Allows that applied but were not enough on
	//     their own, if any.
	Statements []StatementRef
	// GrantID names the grant when Reason is GrantAllow. The KMS layer
	// sets it; Evaluate never does.
	GrantID string
	// AmbiguousContext is set on a denial when a statement that otherwise
	// applied has a kms:EncryptionContext:<key> condition (or a value
	// with such a policy variable) and the request's encryption context
	// has two keys that fold together (ciphertext.FoldKey), such as
	// "Tenant" and "TENANT". Which pair the condition names cannot be
	// told, so the condition fails closed: such an Allow does not apply
	// and such a Deny does.
	AmbiguousContext bool

	crossAccount bool // the caller is not in the resource's account
	root         bool // the caller is an account root
}

// Explanation is a Decision with what it was about, as an administrator
// asks for it (kms's ExplainAuthorization answers it and iam's Explain
// sends it). It lives here, beside Decision, so that iam need not import
// kms to read it.
type Explanation struct {
	// Decision is the policy decision, with Reason GrantAllow and GrantID
	// set when a grant allowed the request.
	Decision Decision
	// Resource is the key's ARN, or "*".
	Resource string
	// Text is a one-line account of the decision (Decision.Explain, or why
	// the request was refused before any policy was read).
	Text string
}

// Evaluate decides whether the policies allow req, with AWS's rules:
//
//  1. A Deny statement that applies, in the key policy or an identity
//     policy, denies (ExplicitDeny).
//  2. Otherwise, in the key's account, an Allow in the key policy that
//     names the caller (or "*", or NotPrincipal without the caller)
//     allows (KeyPolicyAllow); an Allow that names only the caller's
//     account delegates, and then an Allow in one of identityPolicies must
//     apply too (IdentityPolicyAllow). An account root needs no identity
//     policy in its own account.
//  3. For a caller from another account, the key policy must allow the
//     caller or its account, and an identity policy of the caller must
//     allow as well (unless the caller is that account's root).
//  4. Otherwise the request is implicitly denied (ImplicitDeny).
//
// A statement applies when its principal, action, resource and all its
// conditions match. keyPolicy is nil for operations without a key, which
// identity policies alone decide. identityPolicies are the caller's.
//
// Grants are the KMS layer's business: it asks for grants only when
// Evaluate returns ImplicitDeny (an ExplicitDeny beats any grant), and a
// grant that covers the request then allows it (Reason GrantAllow).
//
// Evaluate reads req and the policies and never modifies them; it is safe
// for concurrent use.
func Evaluate(req *Request, keyPolicy *Policy, identityPolicies []*Policy) Decision {
	if req == nil {
		return Decision{}
	}
	e := evaluator{req: req}
	e.init()
	p := req.Principal
	resAcct := req.ResourceAccount
	if resAcct == "" {
		resAcct = p.Account
	}
	d := Decision{root: p.IsRoot(), crossAccount: p.Account == "" || p.Account != resAcct}

	var (
		denies                               []StatementRef
		direct, delegates, identOK           StatementRef
		haveDirect, haveDelegates, haveIdent bool
	)
	if keyPolicy != nil {
		for i := range keyPolicy.stmts {
			s := &keyPolicy.stmts[i]
			m := e.appliesKey(s)
			if m == matchNone {
				continue
			}
			ref := keyPolicy.ref(s, 0)
			switch {
			case s.effect == Deny:
				denies = append(denies, ref)
			case m == matchDirect && !haveDirect:
				direct, haveDirect = ref, true
			case m == matchAccount && !haveDelegates:
				ref.Delegates = true
				delegates, haveDelegates = ref, true
			}
		}
	}
	for j, ip := range identityPolicies {
		if ip == nil {
			continue
		}
		for i := range ip.stmts {
			s := &ip.stmts[i]
			if s.inert || !e.appliesBody(s) {
				continue
			}
			ref := ip.ref(s, j)
			if s.effect == Deny {
				denies = append(denies, ref)
			} else if !haveIdent {
				identOK, haveIdent = ref, true
			}
		}
	}

	if len(denies) > 0 {
		d.Reason, d.Statements = ExplicitDeny, denies
		d.AmbiguousContext = e.sawAmbiguous
		return d
	}
	identityAllows := haveIdent || p.IsRoot() && p.Account != ""
	switch {
	case keyPolicy == nil:
		if !d.crossAccount && identityAllows {
			d.Allowed, d.Reason = true, IdentityPolicyAllow
			if haveIdent {
				d.Statements = []StatementRef{identOK}
			}
		}
	case !d.crossAccount && haveDirect:
		d.Allowed, d.Reason, d.Statements = true, KeyPolicyAllow, []StatementRef{direct}
	case !d.crossAccount && haveDelegates && identityAllows:
		d.Allowed, d.Reason = true, IdentityPolicyAllow
		d.Statements = []StatementRef{delegates, identOK}
	case d.crossAccount && p.Account != "" && (haveDirect || haveDelegates) && identityAllows:
		d.Allowed = true
		k := direct
		if !haveDirect {
			k = delegates
		}
		if haveIdent {
			d.Reason, d.Statements = IdentityPolicyAllow, []StatementRef{k, identOK}
		} else {
			d.Reason, d.Statements = KeyPolicyAllow, []StatementRef{k}
		}
	default:
		// Implicit deny; keep the allows that were not enough, for Explain.
		if haveDirect {
			d.Statements = append(d.Statements, direct)
		}
		if haveDelegates {
			d.Statements = append(d.Statements, delegates)
		}
		if haveIdent {
			d.Statements = append(d.Statements, identOK)
		}
		d.AmbiguousContext = e.sawAmbiguous
	}
	return d
}

func (p *Policy) ref(s *statement, index int) StatementRef {
	return StatementRef{Policy: p.name, Kind: p.kind, PolicyIndex: index, Index: s.index, Sid: s.sid, Effect: s.effect}
}

// principalMatch says how a key-policy statement's principal covers the
// caller.
type principalMatch uint8

const (
	matchNone    principalMatch = iota
	matchDirect                 // the caller itself, "*", or NotPrincipal without the caller
	matchAccount                // only the caller's account (delegation)
)

// evaluator holds one evaluation's request, with the principal-derived
// condition keys ready to hand out without allocating.
type evaluator struct {
	req                      *Request
	arn, acct, ptype, uname  [1]string
	hasARN, hasAcct, hasType bool
	hasUser                  bool

	ambiguity    uint8 // contextAmbiguous's answer: 0 not yet known, 1 no, 2 yes
	sawAmbiguous bool  // a statement's context condition failed closed
}

// contextAmbiguous reports whether two keys of the request's encryption
// context (kms:EncryptionContextKeys) fold to the same key, which makes
// kms:EncryptionContext:<key> name either pair. The answer is computed
// once per evaluation.
func (e *evaluator) contextAmbiguous() bool {
	if e.ambiguity == 0 {
		e.ambiguity = 1
		keys := e.req.Context[CondEncryptionContextKeys]
		seen := make(map[string]struct{}, len(keys))
		for _, k := range keys {
			fk := ciphertext.FoldKey(k)
			if _, dup := seen[fk]; dup {
				e.ambiguity = 2
				break
			}
			seen[fk] = struct{}{}
		}
	}
	return e.ambiguity == 2
}

func (e *evaluator) init() {
	p := &e.req.Principal
	e.arn[0], e.hasARN = p.ARN, p.ARN != ""
	e.acct[0], e.hasAcct = p.Account, p.Account != ""
	e.ptype[0] = principalType(p.Kind)
	e.hasType = e.ptype[0] != ""
	if p.Kind == identity.KindUser {
		e.uname[0], e.hasUser = p.Name, true
	}
}

// lookup returns the values of a lowercase condition key.
func (e *evaluator) lookup(key string) []string {
	switch key {
	case CondPrincipalArn:
		if e.hasARN {
			return e.arn[:]
		}
		return nil
	case CondPrincipalAccount, CondCallerAccount:
		if e.hasAcct {
			return e.acct[:]
		}
		return nil
	case CondPrincipalType:
		if e.hasType {
			return e.ptype[:]
		}
		return nil
	case CondUsername:
		if e.hasUser {
			return e.uname[:]
		}
		return nil
	case CondViaService:
		return nil
	}
	return e.req.Context[key]
}

// appliesKey reports how a key-policy statement applies to the request.
func (e *evaluator) appliesKey(s *statement) principalMatch {
	if s.inert {
		return matchNone
	}
	m := e.principal(s)
	if m == matchNone || !e.appliesBody(s) {
		return matchNone
	}
	if s.effect == Deny {
		return matchDirect // a Deny naming the account covers everyone in it
	}
	return m
}

// appliesBody reports whether the action, resource and conditions of s
// match.
//
// A condition that reads kms:EncryptionContext:<key> cannot be decided
// when the context has two keys that fold together ({"Tenant": "A",
// "TENANT": "B"} against kms:EncryptionContext:tenant): it fails closed.
// If every other part of the statement matches, an Allow does not apply
// and a Deny does, and the decision records why (AmbiguousContext).
func (e *evaluator) appliesBody(s *statement) bool {
	if !e.action(s) || !e.resource(s) {
		return false
	}
	ambiguous := false
	for i := range s.conds {
		c := &s.conds[i]
		if c.readsContext && e.contextAmbiguous() {
			ambiguous = true
			continue
		}
		if !e.eval(c) {
			return false
		}
	}
	if ambiguous {
		e.sawAmbiguous = true
		return s.effect == Deny
	}
	return true
}

func (e *evaluator) action(s *statement) bool {
	a := e.req.Action
	for i := range s.actions {
		if s.actions[i].match(a) {
			return !s.notAction
		}
	}
	return s.notAction
}

func (e *evaluator) resource(s *statement) bool {
	r := e.req.Resource
	for i := range s.resources {
		if e.matchResource(&s.resources[i], r) {
			return !s.notResource
		}
	}
	return s.notResource
}

func (e *evaluator) matchResource(rs *resource, r string) bool {
	if rs.vars == nil {
		if rs.arn.any {
			return true
		}
		return r != "*" && rs.arn.match(r)
	}
	return r != "*" && e.matchARNVars(rs.vars, r)
}

// principal matches the caller against a key-policy statement's Principal
// or NotPrincipal.
//
// Principal: "*" and the caller's own ARN match directly; the caller's
// account (by ID or root ARN) matches a root caller directly and anyone
// else in the account as delegation. Service principals never match.
//
// NotPrincipal: as in IAM, the statement applies unless every identity of
// the request is listed. A user or role has two, its own ARN and its
// account; a root has one. So listing a user excludes nobody unless its
// account is listed too, and listing an account alone excludes only the
// root.
func (e *evaluator) principal(s *statement) principalMatch {
	p := &e.req.Principal
	ps := &s.principals
	if s.notPrincipal {
		if ps.any {
			return matchNone
		}
		acctListed := p.Account != "" && containsString(ps.accounts, p.Account)
		if p.IsRoot() {
			if acctListed {
				return matchNone
			}
			return matchDirect
		}
		if acctListed && p.ARN != "" && containsString(ps.arns, p.ARN) {
			return matchNone
		}
		return matchDirect
	}
	if ps.any {
		return matchDirect
	}
	if p.Account != "" && containsString(ps.accounts, p.Account) {
		if p.IsRoot() {
			return matchDirect
		}
		// A user or role named directly as well is a direct match.
		if p.ARN != "" && containsString(ps.arns, p.ARN) {
			return matchDirect
		}
		return matchAccount
	}
	if p.ARN != "" && p.Kind != identity.KindRoot && containsString(ps.arns, p.ARN) {
		return matchDirect
	}
	return matchNone
}

// Explain returns a one-line, human-readable account of the decision and
// the statements that made it, for logs, audit records and
// `trent authz explain`. It names policies and statements but quotes no
// policy text. Do not put it in AccessDenied messages to callers who may
// not read the key policy.
func (d Decision) Explain() string {
	list := func(refs []StatementRef) string {
		parts := make([]string, len(refs))
		for i, r := range refs {
			parts[i] = r.String()
		}
		return strings.Join(parts, "; ")
	}
	var key, ident []StatementRef
	for _, r := range d.Statements {
		if r.Kind == KeyPolicy {
			key = append(key, r)
		} else {
			ident = append(ident, r)
		}
	}
	const ambiguous = "; the encryption context has keys that differ only by case, so its kms:EncryptionContext: conditions fail closed"
	switch d.Reason {
	case ExplicitDeny:
		if d.AmbiguousContext {
			return "denied: explicit deny by " + list(d.Statements) + ambiguous
		}
		return "denied: explicit deny by " + list(d.Statements)
	case GrantAllow:
		if d.GrantID != "" {
			return "allowed: grant " + d.GrantID + " allows the request"
		}
		return "allowed: a grant allows the request"
	case KeyPolicyAllow:
		s := "allowed: " + list(key) + " allows the caller"
		if d.crossAccount && d.root {
			s += "; the caller is the root of another account, which needs no identity policy"
		} else if d.root {
			s += ", the account root"
		}
		return s
	case IdentityPolicyAllow:
		switch {
		case len(key) == 0 && len(ident) == 0:
			return "allowed: the caller is the account root, which may perform any action without a key in its own account"
		case len(key) == 0:
			return "allowed: " + list(ident) + " allows the request, which has no key policy"
		case d.crossAccount:
			return "allowed: " + list(key) + " allows the caller's account or principal (cross-account), and " + list(ident) + " in the caller's account allows"
		default:
			return "allowed: " + list(ident) + " allows, and " + list(key) + " delegates to the caller's account"
		}
	}
	// ImplicitDeny.
	s := "denied (implicit): no statement allows the request"
	if !d.Allowed && len(d.Statements) > 0 {
		switch {
		case len(key) > 0 && len(ident) == 0 && d.crossAccount:
			s = "denied (implicit): " + list(key) + " allows the caller from another account, but no identity policy in the caller's account allows"
		case len(key) > 0 && len(ident) == 0:
			s = "denied (implicit): " + list(key) + " delegates to the caller's account, but no identity policy allows"
		case len(key) == 0:
			s = "denied (implicit): " + list(ident) + " allows, but the key policy neither allows the caller nor delegates to its account"
		default:
			s = "denied (implicit): " + list(d.Statements) + " allow, but not enough together"
		}
	}
	if d.AmbiguousContext {
		s += ambiguous
	}
	return s
}

// LockoutCheck reports whether key policy p would still let caller change
// it, as CreateKey and PutKeyPolicy require unless the caller bypasses the
// check. It returns [ErrLockout] unless some Allow for kms:PutKeyPolicy
// names the caller, "*", or the caller's account (whose identity policies
// are assumed able to allow it), and no unconditional Deny for
// kms:PutKeyPolicy covers the caller.
//
// Resources are taken to be this key. Conditions cannot be judged without
// the future request, so an Allow with conditions counts as allowing and a
// Deny with conditions as not denying: the check catches the common
// mistakes, not every way a policy can lock its key.
func LockoutCheck(p *Policy, caller identity.Principal) error {
	if p == nil || p.kind != KeyPolicy {
		return ErrLockout
	}
	e := evaluator{req: &Request{Principal: caller, Action: "kms:PutKeyPolicy"}}
	e.init()
	allowed := false
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.inert || !e.action(s) || e.principal(s) == matchNone || !couldBeThisKey(s) {
			continue
		}
		switch {
		case s.effect == Deny && len(s.conds) == 0:
			return ErrLockout
		case s.effect == Allow:
			allowed = true
		}
	}
	if !allowed {
		return ErrLockout
	}
	return nil
}

// couldBeThisKey reports whether a statement's resources may cover the key
// whose policy it is: any Resource may, and a NotResource may unless it
// lists "*".
func couldBeThisKey(s *statement) bool {
	if !s.notResource {
		return true
	}
	for i := range s.resources {
		if s.resources[i].vars == nil && s.resources[i].arn.any {
			return false
		}
	}
	return true
}
