package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trentkms/trent/identity"
)

// A statement is one compiled Statement element.
type statement struct {
	index  int
	sid    string
	effect Effect
	// inert marks a key-policy statement without Action/NotAction or
	// Resource/NotResource. KMS accepts such statements; they never apply.
	inert bool

	notPrincipal bool
	principals   principalSet
	notAction    bool
	actions      []glob // lowercase, matched case-insensitively
	notResource  bool
	resources    []resource
	conds        []condition
}

// A principalSet is the compiled value of Principal or NotPrincipal.
type principalSet struct {
	any      bool     // "*" or {"AWS": "*"}
	accounts []string // accounts named by ID or by their root ARN
	arns     []string // user and role ARNs
	services []string // service principals, which no Trent caller is
}

// A resource is one compiled Resource or NotResource value.
type resource struct {
	raw  string
	vars []tpart // policy variables; nil when there are none
	arn  arnPattern
}

// Parse parses, validates and compiles a policy document of the given
// kind. It returns a [*MalformedError] (matching [ErrMalformed]) saying
// which statement and element are wrong, or an error matching
// [ErrTooLarge] when the document is over the size limit of its kind.
//
// Parse accepts exactly one JSON object with no repeated keys, nested at
// most [MaxDepth] deep, made of tab, LF, CR and the characters U+0020 to
// U+00FF. Its work is linear in the size of the document.
func Parse(doc string, kind Kind) (*Policy, error) {
	if kind != KeyPolicy && kind != IdentityPolicy {
		return nil, fmt.Errorf("policy: Parse called with invalid %v", kind)
	}
	if err := checkSize(doc, kind); err != nil {
		return nil, err
	}
	if err := checkChars(doc); err != nil {
		return nil, err
	}
	root, err := decodeJSON(doc)
	if err != nil {
		return nil, err
	}
	p := &Policy{kind: kind, doc: doc, version: Version2008}
	if kind == KeyPolicy {
		p.name = "default"
	}
	if err := p.compile(root); err != nil {
		return nil, err
	}
	return p, nil
}

func checkSize(doc string, kind Kind) error {
	if len(doc) > MaxKeyPolicySize {
		return fmt.Errorf("%w: the %v is %d bytes; at most %d are allowed", ErrTooLarge, kind, len(doc), MaxKeyPolicySize)
	}
	if kind == IdentityPolicy {
		n := 0
		for _, r := range doc {
			if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
				n++
			}
		}
		if n > MaxIdentityPolicyChars {
			return fmt.Errorf("%w: the identity policy has %d characters other than whitespace; at most %d are allowed", ErrTooLarge, n, MaxIdentityPolicyChars)
		}
	}
	return nil
}

// checkChars enforces KMS's character set: tab, LF, CR and U+0020 to U+00FF.
func checkChars(doc string) error {
	if strings.TrimSpace(doc) == "" {
		return docError("policy document is empty")
	}
	for i, r := range doc {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(doc[i:]); size == 1 {
				return docError("policy document is not valid UTF-8 (at byte %d)", i)
			}
			fallthrough
		case r > 0xFF || r < 0x20 && r != '\t' && r != '\n' && r != '\r':
			return docError("character %U at byte %d is not allowed; a policy may contain tab, line feed, carriage return and the characters U+0020 to U+00FF", r, i)
		}
	}
	return nil
}

var (
	documentElements  = []string{"Version", "Id", "Statement"}
	statementElements = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)

func (p *Policy) compile(root *jnode) error {
	if root.kind != jObject {
		return docError("policy document must be a JSON object, got %v", root.kind)
	}
	if err := checkMembers(root, "policy document", documentElements, docError); err != nil {
		return err
	}
	if v := root.member("Version"); v != nil {
		if v.kind != jString || v.s != Version2012 && v.s != Version2008 {
			return docError("Version must be %q or %q, got %s", Version2012, Version2008, describe(v))
		}
		p.version = v.s
	}
	if v := root.member("Id"); v != nil {
		if v.kind != jString {
			return docError("Id must be a string, got %v", v.kind)
		}
		p.id = v.s
	}
	st := root.member("Statement")
	var list []*jnode
	switch {
	case st == nil:
		return docError("Statement is missing; a policy needs at least one statement")
	case st.kind == jObject:
		list = []*jnode{st}
	case st.kind == jArray:
		list = st.elems
		if len(list) == 0 {
			return docError("Statement must not be an empty list; a policy needs at least one statement")
		}
		if len(list) > MaxStatements {
			return docError("Statement has %d statements; at most %d are allowed", len(list), MaxStatements)
		}
	default:
		return docError("Statement must be an object or a list of objects, got %v", st.kind)
	}
	p.stmts = make([]statement, len(list))
	sids := make(map[string]int)
	for i, n := range list {
		sc := stmtCompiler{p: p, index: i}
		if err := sc.compile(n, &p.stmts[i]); err != nil {
			return err
		}
		if s := p.stmts[i].sid; p.kind == IdentityPolicy && s != "" {
			if j, dup := sids[s]; dup {
				return sc.fail("Sid", "Sid %s is also the Sid of Statement[%d]; Sids must be unique in an identity policy", quote(s), j)
			}
			sids[s] = i
		}
	}
	return nil
}

// checkMembers reports a repeated or unknown member of an object.
func checkMembers(n *jnode, what string, allowed []string, fail func(string, ...any) error) error {
	if n.has {
		return fail("%s has element %s twice", what, quote(n.dup))
	}
	for _, k := range n.keys {
		if !containsString(allowed, k) {
			return fail("%s has unknown element %s; allowed are %s", what, quote(k), strings.Join(allowed, ", "))
		}
	}
	return nil
}

// describe renders a JSON value for a message: a quoted string, or its type.
func describe(n *jnode) string {
	if n.kind == jString {
		return quote(n.s)
	}
	return n.kind.String()
}

// A stmtCompiler compiles one statement and words its errors.
type stmtCompiler struct {
	p     *Policy
	index int
	sid   string
}

func (sc *stmtCompiler) fail(element, format string, args ...any) error {
	return &MalformedError{Statement: sc.index, Sid: sc.sid, Element: element, Reason: fmt.Sprintf(format, args...)}
}

func (sc *stmtCompiler) compile(n *jnode, s *statement) error {
	s.index = sc.index
	if n.kind != jObject {
		return sc.fail("", "statement must be an object, got %v", n.kind)
	}
	if v := n.member("Sid"); v != nil && v.kind == jString {
		sc.sid = v.s // so that every error names the statement
	}
	if err := checkMembers(n, "statement", statementElements, func(f string, a ...any) error { return sc.fail("", f, a...) }); err != nil {
		return err
	}
	keyPolicy := sc.p.kind == KeyPolicy
	if v := n.member("Sid"); v != nil {
		if v.kind != jString {
			return sc.fail("Sid", "Sid must be a string, got %v", v.kind)
		}
		if !keyPolicy {
			for i := 0; i < len(v.s); i++ {
				if c := v.s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
					return sc.fail("Sid", "Sid %s may contain only letters and digits in an identity policy", quote(v.s))
				}
			}
		}
		s.sid = v.s
	}

	switch v := n.member("Effect"); {
	case v == nil:
		return sc.fail("Effect", `Effect is missing; it must be "Allow" or "Deny"`)
	case v.kind == jString && v.s == "Allow":
		s.effect = Allow
	case v.kind == jString && v.s == "Deny":
		s.effect = Deny
	default:
		return sc.fail("Effect", `Effect must be "Allow" or "Deny", got %s`, describe(v))
	}

	pr, npr := n.member("Principal"), n.member("NotPrincipal")
	switch {
	case !keyPolicy && pr != nil:
		return sc.fail("Principal", "Principal is not allowed in an identity policy; the policy applies to the principal it is attached to")
	case !keyPolicy && npr != nil:
		return sc.fail("NotPrincipal", "NotPrincipal is not allowed in an identity policy; the policy applies to the principal it is attached to")
	case pr != nil && npr != nil:
		return sc.fail("Principal", "Principal and NotPrincipal cannot both be present")
	case keyPolicy && pr == nil && npr == nil:
		return sc.fail("Principal", "Principal is missing; every statement of a key policy must name a Principal or NotPrincipal")
	case pr != nil:
		if err := sc.principals("Principal", pr, &s.principals); err != nil {
			return err
		}
	case npr != nil:
		s.notPrincipal = true
		if err := sc.principals("NotPrincipal", npr, &s.principals); err != nil {
			return err
		}
	}

	act, nact := n.member("Action"), n.member("NotAction")
	switch {
	case act != nil && nact != nil:
		return sc.fail("Action", "Action and NotAction cannot both be present")
	case act == nil && nact == nil:
		if !keyPolicy {
			return sc.fail("Action", "Action is missing; a statement needs Action or NotAction")
		}
		s.inert = true
	default:
		name := "Action"
		if nact != nil {
			name, act, s.notAction = "NotAction", nact, true
		}
		list, err := sc.strings(name, act)
		if err != nil {
			return err
		}
		for _, a := range list {
			if !validAction(a) {
				return sc.fail(name, `%s %s must be "*" or "<service>:<action>", such as "kms:Encrypt"`, name, quote(a))
			}
			s.actions = append(s.actions, compileGlob(true, piece{s: a}))
		}
	}

	res, nres := n.member("Resource"), n.member("NotResource")
	switch {
	case res != nil && nres != nil:
		return sc.fail("Resource", "Resource and NotResource cannot both be present")
	case res == nil && nres == nil:
		if !keyPolicy {
			return sc.fail("Resource", "Resource is missing; a statement needs Resource or NotResource")
		}
		s.inert = true
	default:
		name := "Resource"
		if nres != nil {
			name, res, s.notResource = "NotResource", nres, true
		}
		list, err := sc.strings(name, res)
		if err != nil {
			return err
		}
		for _, r := range list {
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				return sc.fail(name, `%s %s must be "*" or an ARN`, name, quote(r))
			}
			rs := resource{raw: r}
			if sc.p.version == Version2012 {
				var reason string
				if rs.vars, reason = parseVars(r); reason != "" {
					return sc.fail(name, "%s %s %s", name, quote(r), reason)
				}
			}
			if rs.vars == nil {
				rs.arn = compileARN(r)
			}
			s.resources = append(s.resources, rs)
		}
	}

	if c := n.member("Condition"); c != nil {
		if err := sc.conditions(c, s); err != nil {
			return err
		}
	}
	return nil
}

// validAction reports whether a is "*" or <service>:<action>, where the
// service is letters, digits and '-', and the action letters, digits and
// wildcards.
func validAction(a string) bool {
	if a == "*" {
		return true
	}
	svc, act, ok := strings.Cut(a, ":")
	if !ok || svc == "" || act == "" {
		return false
	}
	for i := 0; i < len(svc); i++ {
		if c := svc[i]; !isAlnum(c) && c != '-' {
			return false
		}
	}
	for i := 0; i < len(act); i++ {
		if c := act[i]; !isAlnum(c) && c != '*' && c != '?' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// strings reads a string or a non-empty list of strings.
func (sc *stmtCompiler) strings(name string, v *jnode) ([]string, error) {
	switch v.kind {
	case jString:
		return []string{v.s}, nil
	case jArray:
		if len(v.elems) == 0 {
			return nil, sc.fail(name, "%s must not be an empty list", name)
		}
		if len(v.elems) > MaxValues {
			return nil, sc.fail(name, "%s has %d values; at most %d are allowed", name, len(v.elems), MaxValues)
		}
		out := make([]string, len(v.elems))
		for i, e := range v.elems {
			if e.kind != jString {
				return nil, sc.fail(name, "%s must be a string or a list of strings, got %v in the list", name, e.kind)
			}
			out[i] = e.s
		}
		return out, nil
	}
	return nil, sc.fail(name, "%s must be a string or a list of strings, got %v", name, v.kind)
}

func (sc *stmtCompiler) principals(name string, v *jnode, ps *principalSet) error {
	switch v.kind {
	case jString:
		if v.s == "*" {
			ps.any = true
			return nil
		}
		return sc.fail(name, `%s must be "*" or an object such as {"AWS": "<principal ARN>"}, got %s`, name, quote(v.s))
	case jObject:
	default:
		return sc.fail(name, `%s must be "*" or an object such as {"AWS": "<principal ARN>"}, got %v`, name, v.kind)
	}
	if err := checkMembers(v, name, []string{"AWS", "Service"}, func(f string, a ...any) error { return sc.fail(name, f, a...) }); err != nil {
		return err
	}
	if len(v.keys) == 0 {
		return sc.fail(name, `%s must name at least one principal, such as {"AWS": "<principal ARN>"}`, name)
	}
	if svc := v.member("Service"); svc != nil {
		list, err := sc.strings(name+".Service", svc)
		if err != nil {
			return err
		}
		for _, s := range list {
			if s == "" {
				return sc.fail(name+".Service", "%s.Service must not be empty", name)
			}
		}
		ps.services = list
	}
	aws := v.member("AWS")
	if aws == nil {
		return nil
	}
	list, err := sc.strings(name+".AWS", aws)
	if err != nil {
		return err
	}
	for _, a := range list {
		switch {
		case a == "*":
			ps.any = true
		case identity.ValidAccountID(a):
			ps.accounts = append(ps.accounts, a)
		case strings.ContainsAny(a, "*?"):
			return sc.fail(name+".AWS", `%s.AWS value %s has a wildcard; only "*" alone may stand for every principal`, name, quote(a))
		default:
			pr, err := identity.ParsePrincipal(a)
			if err != nil {
				reason := err.Error()
				var ae *identity.ARNError
				if errors.As(err, &ae) {
					reason = ae.Reason
				}
				return sc.fail(name+".AWS", "%s.AWS value %s is not a valid principal: %s", name, quote(a), reason)
			}
			if pr.IsRoot() {
				ps.accounts = append(ps.accounts, pr.Account)
			} else {
				ps.arns = append(ps.arns, pr.ARN)
			}
		}
	}
	return nil
}

func (sc *stmtCompiler) conditions(c *jnode, s *statement) error {
	if c.kind != jObject {
		return sc.fail("Condition", "Condition must be an object, got %v", c.kind)
	}
	if c.has {
		return sc.fail("Condition", "Condition has operator %s twice", quote(c.dup))
	}
	vars := sc.p.version == Version2012
	for i, op := range c.keys {
		el := "Condition." + op
		keys := c.elems[i]
		if keys.kind != jObject {
			return sc.fail(el, "Condition operator %s must map condition keys to values, got %v", quote(op), keys.kind)
		}
		if keys.has {
			return sc.fail(el, "Condition operator %s has key %s twice", quote(op), quote(keys.dup))
		}
		if len(keys.keys) == 0 {
			return sc.fail(el, "Condition operator %s must have at least one condition key", quote(op))
		}
		for j, key := range keys.keys {
			if !validConditionKey(key) {
				return sc.fail(el, `Condition operator %s: %s is not a condition key; keys look like "kms:EncryptionContext:Department"`, quote(op), quote(key))
			}
			values, err := sc.values(el, op, key, keys.elems[j])
			if err != nil {
				return err
			}
			cond, reason := compileCondition(op, key, values, vars)
			if reason != "" {
				return sc.fail(el, "%s", reason)
			}
			s.conds = append(s.conds, cond)
		}
	}
	return nil
}

// values reads a condition value: a string, number or boolean, or a
// non-empty list of them.
func (sc *stmtCompiler) values(el, op, key string, v *jnode) ([]*jnode, error) {
	scalar := func(n *jnode) bool { return n.kind == jString || n.kind == jNumber || n.kind == jBool }
	switch {
	case scalar(v):
		return []*jnode{v}, nil
	case v.kind == jArray:
		if len(v.elems) == 0 {
			return nil, sc.fail(el, "Condition operator %s: %s must have at least one value", quote(op), quote(key))
		}
		if len(v.elems) > MaxValues {
			return nil, sc.fail(el, "Condition operator %s: %s has %d values; at most %d are allowed", quote(op), quote(key), len(v.elems), MaxValues)
		}
		for _, e := range v.elems {
			if !scalar(e) {
				return nil, sc.fail(el, "Condition operator %s: values of %s must be strings, numbers or booleans, got %v in the list", quote(op), quote(key), e.kind)
			}
		}
		return v.elems, nil
	}
	return nil, sc.fail(el, "Condition operator %s: value of %s must be a string, number, boolean or a list of them, got %v", quote(op), quote(key), v.kind)
}
