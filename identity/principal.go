package identity

import (
	"context"
	"fmt"
	"strings"
)

// Kind says what sort of identity a [Principal] is.
type Kind uint8

// The kinds of principal. The zero Kind is not valid.
const (
	// KindRoot is an account itself: arn:aws:iam::<account>:root. In a key
	// policy it delegates to the account's identity policies; as a caller it
	// is the account's administrator.
	KindRoot Kind = iota + 1
	// KindUser is an IAM user: arn:aws:iam::<account>:user/<path/>name.
	KindUser
	// KindRole is an IAM role: arn:aws:iam::<account>:role/<path/>name.
	KindRole
	// KindNode is a cluster node acting for itself (see [NodePrincipal]).
	// It is never parsed from an ARN nor taken from a client certificate.
	KindNode
)

// String returns "root", "user", "role" or "node", or "Kind(n)" for an
// invalid Kind.
func (k Kind) String() string {
	switch k {
	case KindRoot:
		return "root"
	case KindUser:
		return "user"
	case KindRole:
		return "role"
	case KindNode:
		return "node"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// A Principal is an authenticated caller. Principals are values: compare
// them by ARN, which is canonical.
type Principal struct {
	// ARN is the canonical ARN, e.g. arn:aws:iam::111122223333:user/bob.
	// For a KindNode principal it is the node URI, trent://node/<id>.
	ARN string
	// Account is the 12-digit account ID; empty for KindNode.
	Account string
	// Kind says whether this is an account root, a user, a role or a node.
	Kind Kind
	// Path is the IAM path of a user or role, "/" by default and
	// "/division/team/" when the ARN has one. Empty for root and node.
	Path string
	// Name is the user or role name (without its path) or the node ID.
	// Empty for root.
	Name string
	// ID is the unique id of a user ("AIDA...") or role ("AROA...") as a
	// client certificate carried it (see [PrincipalFromCert]), so that a
	// principal deleted and re-created under the same name is a different
	// identity, as in AWS. It is empty for root and node principals, for
	// principals parsed from an ARN, and for certificates issued before
	// ids were carried. The ARN still names the principal; the ID tells
	// its incarnations apart.
	ID string
}

// String returns p.ARN.
func (p Principal) String() string { return p.ARN }

// IsRoot reports whether p is an account root principal.
func (p Principal) IsRoot() bool { return p.Kind == KindRoot }

// IsZero reports whether p is the zero Principal (no caller).
func (p Principal) IsZero() bool { return p == Principal{} }

// RootPrincipal returns the root principal of account,
// arn:aws:iam::<account>:root. It does not check account; use
// [ValidAccountID] on configuration and input first.
func RootPrincipal(account string) Principal {
	return Principal{
		ARN:     "arn:aws:iam::" + account + ":root",
		Account: account,
		Kind:    KindRoot,
	}
}

// NodePrincipal returns the principal of cluster node nodeID, for work a
// node does on its own behalf (replication, forwarding, background
// deletion). Its ARN is the node URI from [NodeURI].
func NodePrincipal(nodeID string) (Principal, error) {
	if err := checkNodeID(nodeID); err != nil {
		return Principal{}, err
	}
	return Principal{ARN: NodeURI(nodeID), Kind: KindNode, Name: nodeID}, nil
}

// ValidAccountID reports whether s is an account ID: exactly 12 ASCII digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Limits on principal ARNs, from IAM.
const (
	maxARNLen      = 2048
	maxIAMNameLen  = 64
	maxIAMPathLen  = 512
	iamNameCharset = "letters, digits and +=,.@_-"
)

// ParsePrincipal parses an IAM principal ARN:
//
//	arn:aws:iam::<12 digits>:root
//	arn:aws:iam::<12 digits>:user/<path/>name
//	arn:aws:iam::<12 digits>:role/<path/>name
//
// Names are 1 to 64 of letters, digits and +=,.@_-; path segments use the
// same characters, and the whole path is at most 512 bytes. Parsing is
// strict and case-sensitive, and accepts only canonical ARNs, so an
// accepted ARN is returned unchanged in Principal.ARN. Bare account IDs,
// groups, STS assumed-role sessions, service principals and wildcards are
// rejected. Errors are [*ARNError] values, matching [ErrInvalidARN].
func ParsePrincipal(arn string) (Principal, error) {
	fail := func(format string, args ...any) (Principal, error) {
		return Principal{}, &ARNError{ARN: arn, Reason: fmt.Sprintf(format, args...), what: "principal"}
	}
	f, reason := splitARN(arn)
	if reason != "" {
		return fail("%s", reason)
	}
	if f.service != "iam" {
		if f.service == "sts" {
			return fail("service is \"sts\": STS assumed-role sessions are not principals here; want service \"iam\"")
		}
		return fail("service must be \"iam\" for a principal, got %q", f.service)
	}
	if f.region != "" {
		return fail("region must be empty in an IAM ARN, got %q", f.region)
	}
	if reason := checkAccount(f.account); reason != "" {
		return fail("%s", reason)
	}
	if f.resource == "root" {
		return RootPrincipal(f.account), nil
	}
	typ, rest, ok := strings.Cut(f.resource, "/")
	var kind Kind
	switch typ {
	case "user":
		kind = KindUser
	case "role":
		kind = KindRole
	case "":
		return fail("resource is empty; want root, user/<name> or role/<name>")
	case "root":
		return fail("root takes no name; want exactly \"root\", got %q", f.resource)
	default:
		if !ok {
			return fail("resource must be root, user/<name> or role/<name>, got %q", f.resource)
		}
		return fail("resource type %q is not a principal; want root, user or role", typ)
	}
	if !ok || rest == "" {
		return fail("%s name is missing; want %s/<name>", typ, typ)
	}
	path, name := "/", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		path, name = "/"+rest[:i+1], rest[i+1:]
	}
	if name == "" {
		return fail("%s name is empty (the ARN ends with \"/\")", typ)
	}
	if len(name) > maxIAMNameLen {
		return fail("%s name is %d bytes long; at most %d are allowed", typ, len(name), maxIAMNameLen)
	}
	if c, bad := firstInvalid(name, isIAMNameChar); bad {
		return fail("%s name %q contains %q; allowed are %s", typ, name, c, iamNameCharset)
	}
	if len(path) > maxIAMPathLen {
		return fail("path is %d bytes long; at most %d are allowed", len(path), maxIAMPathLen)
	}
	if path != "/" {
		for _, seg := range strings.Split(path[1:len(path)-1], "/") {
			if seg == "" {
				return fail("path %q has an empty segment (\"//\")", path)
			}
			if c, bad := firstInvalid(seg, isIAMNameChar); bad {
				return fail("path segment %q contains %q; allowed are %s", seg, c, iamNameCharset)
			}
		}
	}
	return Principal{ARN: arn, Account: f.account, Kind: kind, Path: path, Name: name}, nil
}

// Unique id prefixes of users and roles, as in IAM.
const (
	UserIDPrefix = "AIDA"
	RoleIDPrefix = "AROA"
)

// ValidPrincipalID reports whether id can be the unique id of a principal
// of kind k: "AIDA" for a user or "AROA" for a role, then 16 or 17
// upper-case letters and digits (17, as in AWS, since ids were bound into
// certificates; 16 before). Roots and nodes have no unique id.
func ValidPrincipalID(k Kind, id string) bool {
	var prefix string
	switch k {
	case KindUser:
		prefix = UserIDPrefix
	case KindRole:
		prefix = RoleIDPrefix
	default:
		return false
	}
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) < 16 || len(rest) > 17 {
		return false
	}
	_, bad := firstInvalid(rest, func(c byte) bool { return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' })
	return !bad
}

// isIAMNameChar reports whether c may appear in an IAM user or role name or
// path segment: [\w+=,.@-].
func isIAMNameChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("+=,.@_-", c) >= 0
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// firstInvalid returns the first character of s (as a string, so that a
// multi-byte rune is shown whole) for which ok is false.
func firstInvalid(s string, ok func(byte) bool) (string, bool) {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			if s[i] >= 0x80 {
				for _, r := range s[i:] {
					return string(r), true
				}
			}
			return s[i : i+1], true
		}
	}
	return "", false
}

// arnFields are the six colon-separated fields of an ARN.
type arnFields struct {
	partition, service, region, account, resource string
}

// splitARN splits arn into its fields, checking what every ARN we accept
// shares: the "arn:" prefix, six fields, partition "aws" and a length
// limit. It returns a non-empty reason when arn is malformed.
func splitARN(arn string) (arnFields, string) {
	switch {
	case arn == "":
		return arnFields{}, "ARN is empty"
	case len(arn) > maxARNLen:
		return arnFields{}, fmt.Sprintf("ARN is %d bytes long; at most %d are allowed", len(arn), maxARNLen)
	case !strings.HasPrefix(arn, "arn:"):
		return arnFields{}, "ARN must start with \"arn:\""
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return arnFields{}, fmt.Sprintf("ARN has %d colon-separated fields; want 6 (arn:partition:service:region:account:resource)", len(parts))
	}
	f := arnFields{partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts[5]}
	if f.partition != "aws" {
		return arnFields{}, fmt.Sprintf("partition must be \"aws\", got %q", f.partition)
	}
	return f, ""
}

func checkAccount(account string) string {
	switch {
	case account == "":
		return "account ID is missing"
	case !ValidAccountID(account):
		return fmt.Sprintf("account ID must be exactly 12 digits, got %q", account)
	}
	return ""
}

// ctxKey is the context key of the caller's Principal.
type ctxKey struct{}

// NewContext returns a copy of ctx that carries p as the authenticated
// caller. Only the authentication layer should call it.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the authenticated caller stored in ctx by
// [NewContext], and whether there was one. A zero Principal counts as none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok && !p.IsZero()
}
