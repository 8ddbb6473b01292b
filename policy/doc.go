// Package policy is Trent's authorization engine: the IAM policy language
// as AWS KMS uses it. It parses and validates key policies and identity
// policies, evaluates a request against them with AWS's rules, explains
// the outcome, and provides the default key policy and the lockout safety
// check.
//
// Parse once with [Parse] and evaluate many times with [Evaluate]: a
// [Policy] is compiled (wildcards, ARNs, numbers, dates and CIDR blocks are
// parsed up front), immutable, and safe for concurrent use.
//
// # Documents
//
// A policy is a JSON object with Version ("2012-10-17", or "2008-10-17",
// the default), an optional Id, and Statement: one statement object or a
// non-empty list of them. A statement has Sid, Effect ("Allow" or "Deny"),
// Principal or NotPrincipal, Action or NotAction, Resource or NotResource,
// and Condition; element names and Effect are case-sensitive, unknown
// elements and repeated JSON keys are errors.
//
//   - Key policies ([KeyPolicy]) must name a Principal or NotPrincipal in
//     every statement; Sids may contain spaces. A statement without Action
//     or Resource is accepted, as KMS does, and never applies. The
//     document may be up to [MaxKeyPolicySize] bytes (32 KiB, KMS's quota).
//   - Identity policies ([IdentityPolicy]) must not name principals, need
//     Action and Resource, and have unique alphanumeric Sids. They may
//     have up to [MaxIdentityPolicyChars] (6,144) characters other than
//     whitespace, IAM's limit for managed policies, and 32 KiB in all.
//
// Principals are "*", {"AWS": ...} with "*", a 12-digit account ID, or a
// principal ARN accepted by [identity.ParsePrincipal] (account root, user
// or role), alone or in a list; and {"Service": ...}, which is accepted and
// never matches a Trent caller. Federated and CanonicalUser principals,
// STS session ARNs and wildcards other than "*" alone are rejected.
// [Policy.Principals] lists the named principals so that the KMS layer can
// check that they exist.
//
// Actions are "*" or "<service>:<action>", with the wildcards * and ?,
// matched case-insensitively ("KMS:decrypt" matches "kms:Decrypt").
// Resources are "*" or ARNs with wildcards, matched one colon-separated
// field at a time; in a key policy "*" means the key itself. A request
// for an operation without a key has resource "*", which only "*"
// matches.
//
// A document may contain only tab, LF, CR and U+0020 to U+00FF. Hostile
// input is bounded: JSON nesting is limited to [MaxDepth], a policy to
// [MaxStatements] statements, and a list to [MaxValues] values, and every
// step of parsing is linear in the size of the document. Wildcard matching
// costs at most the product of the lengths of pattern and input, and is
// usually a single pass.
//
// Errors are a [*MalformedError] (matching [ErrMalformed]) naming the
// statement, its Sid and the element, such as
//
//	Statement[2] (Sid "AllowUse"): Effect must be "Allow" or "Deny", got "allow"
//
// or, for an oversized document, an error matching [ErrTooLarge].
//
// # Conditions
//
// The operators are StringEquals, StringNotEquals, StringEqualsIgnoreCase,
// StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals,
// ArnNotEquals, ArnLike, ArnNotLike (ArnEquals and ArnLike both take
// wildcards, as in IAM), Bool, Null, NumericEquals, NumericNotEquals,
// NumericLessThan(Equals), NumericGreaterThan(Equals), DateEquals,
// DateNotEquals, DateLessThan(Equals), DateGreaterThan(Equals), IpAddress
// and NotIpAddress; each (except Null) with the ForAnyValue: or
// ForAllValues: prefix and the IfExists suffix. Values are checked when
// the policy is parsed: Bool and Null take true or false, Numeric
// operators decimal numbers, Date operators ISO 8601 times (with or without
// a zone, UTC by default; or a date alone) or seconds since 1970, and
// IpAddress addresses or CIDR blocks.
//
// The semantics are IAM's. All operators of a statement, and all keys of
// an operator, must hold; several values for one key in the policy are
// alternatives. Condition key names are case-insensitive. For a key the
// request lacks (or has with no values):
//
//   - a positive operator is false, and a negated one (StringNotEquals,
//     NotIpAddress, ...) is true;
//   - ...IfExists is true;
//   - ForAllValues: is true, and ForAnyValue: is false;
//   - Null is true for "true" and false for "false".
//
// With several request values, a plain operator holds when any of them
// matches (a negated one when none does), ForAnyValue: when any value
// satisfies the operator, and ForAllValues: when every value does. A
// request value that does not parse for the operator (a number, date,
// boolean or address) matches nothing.
//
// In version 2012-10-17 documents, string and ARN condition values and
// resources may use policy variables: ${aws:username}, ${key, 'default'},
// and ${*}, ${?} and ${$} for the literal characters. A variable's value
// is literal text, even in a Like pattern; a variable whose key has no
// single value (and no default) makes that value match nothing.
//
// KMS rejects ForAllValues with kms:EncryptionContext:<key> as
// OverlyPermissiveCondition, and so does Parse, with AWS's message.
//
// # Condition keys
//
// [Request.Context] holds the condition keys, spelled in lowercase (the
// Cond constants); [NewRequest] and its Set methods fill it from typed
// values. Supported keys: kms:EncryptionContext:<key>,
// kms:EncryptionContextKeys, kms:CallerAccount, kms:GrantOperations,
// kms:GranteePrincipal, kms:RetiringPrincipal, kms:GrantConstraintType,
// kms:GrantIsForAWSResource, kms:KeySpec, kms:KeyUsage, kms:KeyOrigin,
// kms:EncryptionAlgorithm, kms:SigningAlgorithm, kms:MacAlgorithm,
// kms:WrappingAlgorithm, kms:WrappingKeySpec, kms:ExpirationModel,
// kms:ValidTo, kms:RequestAlias, kms:ResourceAliases, kms:ReEncryptOnSameKey,
// kms:BypassPolicyLockoutSafetyCheck, aws:ResourceTag/<key>,
// aws:RequestTag/<key>, aws:TagKeys, aws:PrincipalArn,
// aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:SourceIp,
// aws:CurrentTime, aws:EpochTime and aws:SecureTransport; any other key
// set with [Request.Set] works too. Keys a request lacks are absent.
//
//   - The key part of kms:EncryptionContext:<key> is case-insensitive, as
//     KMS documents; the value's case matters to StringEquals and not to
//     StringEqualsIgnoreCase. kms:EncryptionContextKeys keeps the keys'
//     case, so StringEquals on it is fully case-sensitive.
//   - Case-insensitive means one fold for context keys, the one grant
//     constraints use: [ciphertext.FoldKey], ASCII letters only (so "é"
//     and "É", or "k" and the Kelvin sign U+212A, are different keys).
//     Condition key names are folded with it, and StringEqualsIgnoreCase
//     on kms:EncryptionContextKeys compares with it; on other keys it
//     compares values with strings.EqualFold.
//   - A context with two keys that fold together ("Tenant" and "TENANT")
//     leaves kms:EncryptionContext:tenant naming either pair. A condition
//     that reads such a key, directly or through a policy variable, then
//     fails closed, whatever its operator: the Allow that holds it does
//     not apply and the Deny does, and the Decision says so
//     (AmbiguousContext).
//   - The principal keys (aws:PrincipalArn, aws:PrincipalAccount,
//     aws:PrincipalType, aws:username, kms:CallerAccount) always come from
//     [Request.Principal], never from the context. aws:PrincipalType is
//     Account, User or AssumedRole (for roles, as IAM reports a role's
//     session); aws:username is present for users only.
//   - kms:ViaService is never present in Trent, which has no integrated
//     services: conditions on it behave as for any missing key (so
//     Principal "*" statements of AWS managed keys allow nothing).
//   - kms:GrantIsForAWSResource is false whenever it is set.
//
// # Evaluation
//
// [Evaluate] follows AWS (see its documentation): an applicable Deny
// anywhere wins; otherwise the key policy must allow the caller, or
// delegate to the caller's account (Principal arn:aws:iam::<account>:root
// or the account ID) and an identity policy of the caller must allow;
// across accounts both the key policy and the caller's identity policy
// must allow; otherwise the request is implicitly denied. An account root
// acts with all the permissions of its account and so needs no identity
// policy, but it is still bound by the key policy. A cluster node has no
// account and is never allowed by policies.
//
// Principal matching in key policies: "*" and the caller's ARN match
// directly; an account matches its root directly and everyone else in it
// only as delegation; in a Deny, an account matches everyone in it.
// NotPrincipal applies unless every identity of the caller is listed: its
// ARN and, for users and roles, its account (so, as in IAM, exempting a
// user needs the user and its account).
//
// Grants are a separate allow path that the KMS layer evaluates. It
// consults them only after ImplicitDeny; ExplicitDeny beats every grant.
// It reports a grant's allow as a [Decision] with Reason [GrantAllow].
//
// [Decision.Explain] says which statements decided, for logs, audit and
// `trent authz explain`. It quotes no policy text; AccessDenied messages to
// callers are the KMS layer's to word.
//
// # Not supported
//
// SCPs, RCPs, permission boundaries, session policies, VPC endpoint
// policies, STS sessions, federated and service callers, aws:SourceVpce,
// aws:PrincipalOrgID, and NotPrincipal with session ARNs. [LockoutCheck]
// does not judge conditions; see its documentation.
package policy
