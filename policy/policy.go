package policy

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind says which sort of policy a document is. Key policies are attached
// to one KMS key and must name principals; identity policies are attached
// to a principal and must not.
type Kind uint8

// The kinds of policy. The zero Kind is not valid.
const (
	// KeyPolicy is a KMS key policy: Principal or NotPrincipal is required
	// in every statement, Sids may contain spaces, and the document may be
	// up to [MaxKeyPolicySize] bytes.
	KeyPolicy Kind = iota + 1
	// IdentityPolicy is an IAM identity policy attached to a user or role:
	// Principal and NotPrincipal are forbidden, Action and Resource are
	// required, Sids are alphanumeric and unique, and the document may have
	// up to [MaxIdentityPolicyChars] non-whitespace characters.
	IdentityPolicy
)

// String returns "key policy" or "identity policy".
func (k Kind) String() string {
	switch k {
	case KeyPolicy:
		return "key policy"
	case IdentityPolicy:
		return "identity policy"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Effect is a statement's Effect element.
type Effect uint8

// The effects. The zero Effect is not valid.
const (
	Allow Effect = iota + 1
	Deny
)

// String returns "Allow" or "Deny".
func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	default:
		return "Effect(" + strconv.Itoa(int(e)) + ")"
	}
}

// Limits on documents Parse accepts. Everything Parse does is linear in the
// size of the document, and these bound the size and the shape.
const (
	// MaxKeyPolicySize is the largest key policy, in bytes: the KMS quota
	// of 32 KiB, which is not adjustable.
	MaxKeyPolicySize = 32768
	// MaxIdentityPolicyChars is the most non-whitespace characters in an
	// identity policy: IAM's limit for a managed policy. (IAM allows inline
	// policies of 2,048 to 10,240 characters depending on the principal;
	// Trent has one limit for all.) The whole document, whitespace
	// included, is also limited to MaxKeyPolicySize bytes.
	MaxIdentityPolicyChars = 6144
	// MaxDepth is the deepest JSON nesting accepted. The grammar needs 7:
	// document, Statement list, statement, Condition, operator, key, list
	// of values.
	MaxDepth = 8
	// MaxStatements is the most statements in one policy.
	MaxStatements = 500
	// MaxValues is the most entries in one list: principals of one type,
	// actions, resources, or the values of one condition key.
	MaxValues = 1000
)

// Versions of the policy language.
const (
	Version2012 = "2012-10-17" // the current version; supports policy variables
	Version2008 = "2008-10-17" // the original version; "${" is literal text
)

// ErrMalformed is matched (with errors.Is) by every [*MalformedError],
// which [Parse] returns for a document that is not a valid policy. The KMS
// API answers it with MalformedPolicyDocumentException.
var ErrMalformed = errors.New("malformed policy document")

// ErrTooLarge is matched (with errors.Is) by the error [Parse] returns for
// a document over the size limit of its [Kind]. The KMS API answers it with
// LimitExceededException.
var ErrTooLarge = errors.New("policy document is too large")

// ErrLockout is returned by [LockoutCheck] when a key policy would not let
// the caller change it again. Its text is AWS's message; the KMS API
// answers it with MalformedPolicyDocumentException.
var ErrLockout = errors.New("The new key policy will not allow you to update the key policy in the future.") //nolint:staticcheck // AWS's exact message

// A MalformedError says why [Parse] rejected a policy and where. It
// matches [ErrMalformed]. Its message quotes only the caller's own document
// and is meant to be returned to them.
type MalformedError struct {
	// Statement is the index of the offending statement, or -1 when the
	// problem is outside the statements (Version, Id, JSON syntax, size).
	Statement int
	// Sid is the offending statement's Sid, if it has one.
	Sid string
	// Element is the path of the offending element within the statement
	// or document, such as "Effect" or "Condition.StringEquals".
	Element string
	// Reason says what is wrong, starting with the element's name, e.g.
	// `Effect must be "Allow" or "Deny", got "allow"`.
	Reason string
}

// Error returns the reason, prefixed with the statement when there is one:
//
//	Statement[2] (Sid "AllowUse"): Effect must be "Allow" or "Deny", got "allow"
func (e *MalformedError) Error() string {
	if e.Statement < 0 {
		return e.Reason
	}
	var b strings.Builder
	b.WriteString("Statement[")
	b.WriteString(strconv.Itoa(e.Statement))
	b.WriteString("]")
	if e.Sid != "" {
		b.WriteString(" (Sid ")
		b.WriteString(quote(e.Sid))
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Is reports whether target is [ErrMalformed].
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// quote quotes s for a message, eliding the middle of long input.
func quote(s string) string {
	const n = 120
	if len(s) > n {
		i, j := n/2, len(s)-n/2
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		for j < len(s) && !utf8.RuneStart(s[j]) {
			j++
		}
		s = s[:i] + "…" + s[j:]
	}
	return strconv.Quote(s)
}

// A Policy is a parsed, validated and compiled policy document. It is
// immutable and safe for concurrent use; parse once and evaluate many
// times.
type Policy struct {
	kind    Kind
	name    string
	version string
	id      string
	doc     string
	stmts   []statement
}

// Kind returns the kind the policy was parsed as.
func (p *Policy) Kind() Kind { return p.kind }

// Name returns the name that labels the policy in a [Decision]: "default"
// for a key policy (KMS's only policy name) and "" for an identity policy
// unless set with [Policy.Named].
func (p *Policy) Name() string { return p.name }

// Named returns a copy of p labelled name in decisions, such as the name of
// an identity policy. The copy shares p's compiled statements.
func (p *Policy) Named(name string) *Policy {
	q := *p
	q.name = name
	return &q
}

// Version returns the Version element, "2012-10-17" or "2008-10-17" (the
// default when the document has none).
func (p *Policy) Version() string { return p.version }

// ID returns the Id element, or "".
func (p *Policy) ID() string { return p.id }

// Document returns the text p was parsed from, unchanged.
func (p *Policy) Document() string { return p.doc }

// Len returns the number of statements.
func (p *Policy) Len() int { return len(p.stmts) }

// Principals returns the AWS principals named in Principal and NotPrincipal
// elements, sorted and without duplicates, with bare account IDs written as
// account root ARNs (arn:aws:iam::<account>:root) and without "*". The KMS
// layer checks that each exists, as AWS does at PutKeyPolicy.
func (p *Policy) Principals() []string {
	seen := make(map[string]bool)
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for i := range p.stmts {
		ps := &p.stmts[i].principals
		for _, a := range ps.accounts {
			add(rootARN(a))
		}
		for _, a := range ps.arns {
			add(a)
		}
	}
	sort.Strings(out)
	return out
}

// String returns a short description for logs, such as
// `key policy "default" (3 statements)`; never the document itself.
func (p *Policy) String() string {
	return fmt.Sprintf("%s %s (%d statements)", p.kind, quote(p.name), len(p.stmts))
}

func rootARN(account string) string { return "arn:aws:iam::" + account + ":root" }
