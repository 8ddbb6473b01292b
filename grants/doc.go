// Package grants holds the rules of AWS KMS grants, independent of storage
// and transport: the grant operations and their replicated bit set, which
// operations a key can be granted, encryption-context constraints and how
// a request's context satisfies them, the delegation rule for grants
// created under another grant's CreateGrant permission, and grant tokens.
//
// # Constraints
//
// EncryptionContextSubset is satisfied when the request's context contains
// every constraint pair (extra pairs allowed); EncryptionContextEquals when
// it holds exactly the constraint pairs. Following AWS's current
// documentation, the key of each pair is compared without regard to case
// and the value exactly. Constraints apply only to operations that take an
// encryption context; for DescribeKey, CreateGrant and RetireGrant they are
// ignored.
//
// "Without regard to case" means one fold, [ciphertext.FoldKey]: ASCII
// letters only, so "s" and "ſ" (U+017F), or "k" and the Kelvin sign
// (U+212A), are different keys. Validation (no two keys of a constraint
// may fold together), matching and delegation all use it. A request
// context with two keys that fold together, such as "Tenant" and
// "TENANT", is refused by every constraint that has a pair
// ([ErrAmbiguousContext]): which of them a constraint key names would
// otherwise be a guess (it was: the first one a map iteration found).
//
// # Delegation
//
// A grant created with CreateGrant permission that comes from a parent
// grant may carry only operations of the parent, and constraints at least
// as strict: a Subset parent admits a Subset child with a superset of its
// pairs or an Equals child containing its pairs; an Equals parent admits
// only the same Equals (which must also contain the parent's Subset pairs
// when the parent has both). Pairs are compared by folded key, so every
// context the child allows, the parent allows. Permission from a policy
// has no such limit.
//
// # Tokens
//
// A grant token is "v1." followed by base64url (no padding) of
//
//	version(1)=1 | grant id(32) | key id(16) | created index(8, big-endian) | nonce(16) | tag(32)
//
// where tag = HMAC-SHA256 under a subkey of the cluster domain key, held in
// the HSMs, over everything before it. The nonce makes every token unique,
// even when an idempotent CreateGrant retry returns an existing grant. The
// token is self-contained: any node can verify it, and it carries the index
// at which the grant was created so the node can wait until it has the
// grant. A token authenticates a reference to a grant, not permissions: the
// grant itself still decides, so a retired grant's tokens stop working.
package grants
