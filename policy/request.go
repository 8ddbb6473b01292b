package policy

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trentkms/trent/ciphertext"
	"github.com/trentkms/trent/identity"
)

// Condition keys, as they appear in [Request.Context]: lowercase, because
// IAM condition key names are case-insensitive. Parse folds the keys in
// policies with foldConditionKey, so the context must use these spellings.
const (
	// CondEncryptionContextPrefix prefixes one key per encryption context
	// pair: kms:encryptioncontext:<context key folded by
	// ciphertext.FoldKey>. Its values are the pair's values, case
	// preserved.
	CondEncryptionContextPrefix = "kms:encryptioncontext:"
	// CondEncryptionContextKeys is multi-valued: the encryption context
	// keys of the request, case preserved.
	CondEncryptionContextKeys = "kms:encryptioncontextkeys"
	// CondCallerAccount is the caller's account; derived from
	// [Request.Principal].
	CondCallerAccount = "kms:calleraccount"
	// CondGrantOperations is multi-valued: CreateGrant's Operations.
	CondGrantOperations       = "kms:grantoperations"
	CondGranteePrincipal      = "kms:granteeprincipal"
	CondRetiringPrincipal     = "kms:retiringprincipal"
	CondGrantConstraintType   = "kms:grantconstrainttype"
	CondGrantIsForAWSResource = "kms:grantisforawsresource"
	CondKeySpec               = "kms:keyspec"
	CondKeyUsage              = "kms:keyusage"
	CondKeyOrigin             = "kms:keyorigin"
	CondEncryptionAlgorithm   = "kms:encryptionalgorithm"
	CondSigningAlgorithm      = "kms:signingalgorithm"
	CondMacAlgorithm          = "kms:macalgorithm"
	CondMessageType           = "kms:messagetype"
	CondDataKeyPairSpec       = "kms:datakeypairspec"
	CondKeyAgreementAlgorithm = "kms:keyagreementalgorithm"
	CondWrappingAlgorithm     = "kms:wrappingalgorithm"
	CondWrappingKeySpec       = "kms:wrappingkeyspec"
	CondExpirationModel       = "kms:expirationmodel"
	// CondValidTo is ImportKeyMaterial's ValidTo in seconds since 1970,
	// for Numeric and Date operators; absent for material that does not
	// expire.
	CondValidTo              = "kms:validto"
	CondRequestAlias         = "kms:requestalias"
	CondResourceAliases      = "kms:resourcealiases" // multi-valued
	CondBypassLockoutCheck   = "kms:bypasspolicylockoutsafetycheck"
	CondReEncryptOnSameKey   = "kms:reencryptonsamekey"
	CondPendingWindowInDays  = "kms:schedulekeydeletionpendingwindowindays"
	CondRotationPeriodInDays = "kms:rotationperiodindays"
	CondViaService           = "kms:viaservice"       // never present in Trent
	CondPrincipalArn         = "aws:principalarn"     // derived from Request.Principal
	CondPrincipalAccount     = "aws:principalaccount" // derived from Request.Principal
	CondPrincipalType        = "aws:principaltype"    // derived from Request.Principal
	CondUsername             = "aws:username"         // derived from Request.Principal
	CondSourceIP             = "aws:sourceip"
	CondCurrentTime          = "aws:currenttime"
	CondEpochTime            = "aws:epochtime"
	CondSecureTransport      = "aws:securetransport"
	// CondResourceTagPrefix prefixes one key per tag of the key acted on:
	// aws:resourcetag/<tag key folded by ciphertext.FoldKey>.
	CondResourceTagPrefix = "aws:resourcetag/"
	// CondRequestTagPrefix prefixes one key per tag a request sets
	// (CreateKey's Tags, TagResource).
	CondRequestTagPrefix = "aws:requesttag/"
	// CondTagKeys is multi-valued: the tag keys a request sets or removes
	// (UntagResource), case preserved.
	CondTagKeys = "aws:tagkeys"
)

// A Request is one authorization question: may Principal perform Action
// on Resource, given the condition keys in Context? Build one with
// [NewRequest] and the Set methods, or fill the fields directly. A Request
// is not safe for concurrent modification, but [Evaluate] only reads it.
type Request struct {
	// Principal is the authenticated caller.
	Principal identity.Principal
	// Action is the IAM action, "kms:<Operation>", such as "kms:Decrypt".
	// It matches policy actions case-insensitively.
	Action string
	// Resource is the key ARN, or "*" for operations without a key
	// (CreateKey, ListKeys, GenerateRandom, ...).
	Resource string
	// ResourceAccount is the account that owns the resource: the key's,
	// or the caller's for operations without a key. Empty means the
	// caller's.
	ResourceAccount string
	// Context maps lowercase condition keys (the Cond constants) to their
	// values. A key with no values is absent. The principal keys
	// (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
	// aws:username, kms:CallerAccount) always come from Principal, and
	// kms:ViaService is always absent, whatever Context says.
	Context map[string][]string
}

// NewRequest returns a Request with an empty context.
func NewRequest(p identity.Principal, action, resource, resourceAccount string) *Request {
	return &Request{
		Principal:       p,
		Action:          action,
		Resource:        resource,
		ResourceAccount: resourceAccount,
		Context:         make(map[string][]string, 8),
	}
}

// foldConditionKey returns the form in which condition key names are
// compared. IAM condition key names are case-insensitive, and the name
// kms:EncryptionContext:<key> holds a context key, which must fold exactly
// as grant constraints fold it: so the whole name is folded with
// ciphertext.FoldKey (ASCII letters only; see there for why).
func foldConditionKey(k string) string { return ciphertext.FoldKey(k) }

// Set sets the condition key key (case-insensitive: ASCII letters are
// folded) to values, or removes it when there are none.
func (r *Request) Set(key string, values ...string) {
	key = foldConditionKey(key)
	if len(values) == 0 {
		delete(r.Context, key)
		return
	}
	if r.Context == nil {
		r.Context = make(map[string][]string, 8)
	}
	r.Context[key] = values
}

// SetEncryptionContext sets kms:EncryptionContext:<key> for each pair and
// kms:EncryptionContextKeys, replacing any earlier encryption context. For
// CreateGrant, pass the encryption context of the grant's constraint. The
// key part of kms:EncryptionContext:<key> is case-insensitive, folded by
// ciphertext.FoldKey as grant constraints fold it; the values and
// kms:EncryptionContextKeys keep their case, so StringEquals on them is
// case-sensitive.
//
// Pairs whose keys fold together (such as "Tenant" and "TENANT") make one
// key with the values in key order, but [Evaluate] does not decide a
// kms:EncryptionContext: condition on such a context: it fails closed
// (see [Decision.AmbiguousContext]).
func (r *Request) SetEncryptionContext(ec map[string]string) {
	for k := range r.Context {
		if strings.HasPrefix(k, CondEncryptionContextPrefix) {
			delete(r.Context, k)
		}
	}
	delete(r.Context, CondEncryptionContextKeys)
	if len(ec) == 0 {
		return
	}
	if r.Context == nil {
		r.Context = make(map[string][]string, 8)
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck := CondEncryptionContextPrefix + ciphertext.FoldKey(k)
		r.Context[ck] = append(r.Context[ck], ec[k])
	}
	r.Context[CondEncryptionContextKeys] = keys
}

// KeyAttributes are the properties of the key a request acts on, for the
// kms:KeySpec, kms:KeyUsage, kms:KeyOrigin and kms:ResourceAliases keys.
// For CreateKey, they are the requested (or defaulted) values.
type KeyAttributes struct {
	KeySpec  string   // e.g. "SYMMETRIC_DEFAULT"
	KeyUsage string   // e.g. "ENCRYPT_DECRYPT"
	Origin   string   // e.g. "AWS_KMS"
	Aliases  []string // alias names of the key, "alias/<name>"
}

// SetKey sets the key-property condition keys; empty fields are absent.
func (r *Request) SetKey(k KeyAttributes) {
	r.setOne(CondKeySpec, k.KeySpec)
	r.setOne(CondKeyUsage, k.KeyUsage)
	r.setOne(CondKeyOrigin, k.Origin)
	r.Set(CondResourceAliases, k.Aliases...)
}

// GrantRequest holds the members of a CreateGrant request that condition
// keys see. Set IsForAWSResource (always false in Trent) alone for
// ListGrants and RevokeGrant.
type GrantRequest struct {
	Operations        []string // e.g. "Decrypt", "Encrypt"
	GranteePrincipal  string
	RetiringPrincipal string
	// ConstraintTypes are the constraints present:
	// "EncryptionContextEquals" and/or "EncryptionContextSubset".
	ConstraintTypes  []string
	IsForAWSResource bool
}

// SetGrant sets kms:GrantOperations, kms:GranteePrincipal,
// kms:RetiringPrincipal, kms:GrantConstraintType and
// kms:GrantIsForAWSResource; empty fields are absent.
func (r *Request) SetGrant(g GrantRequest) {
	r.Set(CondGrantOperations, g.Operations...)
	r.setOne(CondGranteePrincipal, g.GranteePrincipal)
	r.setOne(CondRetiringPrincipal, g.RetiringPrincipal)
	r.Set(CondGrantConstraintType, g.ConstraintTypes...)
	r.Set(CondGrantIsForAWSResource, strconv.FormatBool(g.IsForAWSResource))
}

// SetResourceTags sets aws:ResourceTag/<key> for each tag of the key the
// request acts on, replacing any earlier ones. Tag keys are case-sensitive
// on the key but condition key names are not: tags whose keys fold
// together (ciphertext.FoldKey) make one condition key with both values,
// in tag-key order, so a plain operator holds when either matches.
func (r *Request) SetResourceTags(tags map[string]string) {
	r.setTags(CondResourceTagPrefix, tags)
}

// SetRequestTags sets aws:RequestTag/<key> for each tag the request sets
// (folded as in [Request.SetResourceTags]) and aws:TagKeys to their keys,
// replacing any earlier ones.
func (r *Request) SetRequestTags(tags map[string]string) {
	keys := r.setTags(CondRequestTagPrefix, tags)
	r.Set(CondTagKeys, keys...)
}

// setTags sets prefix+<folded key> for each tag and returns the tag keys
// in order.
func (r *Request) setTags(prefix string, tags map[string]string) []string {
	for k := range r.Context {
		if strings.HasPrefix(k, prefix) {
			delete(r.Context, k)
		}
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck := foldConditionKey(prefix + k)
		r.Set(ck, append(r.Context[ck], tags[k])...)
	}
	return keys
}

// SetRequestAlias sets kms:RequestAlias to the alias name the request used
// to identify the key ("alias/<name>"); leave it unset when the request
// used a key ID or ARN.
func (r *Request) SetRequestAlias(alias string) { r.setOne(CondRequestAlias, alias) }

// SetTime sets aws:CurrentTime (RFC 3339, UTC) and aws:EpochTime.
// Evaluation never reads the clock itself.
func (r *Request) SetTime(t time.Time) {
	r.Set(CondCurrentTime, t.UTC().Format(time.RFC3339Nano))
	r.Set(CondEpochTime, strconv.FormatInt(t.Unix(), 10))
}

// SetSourceIP sets aws:SourceIp; an invalid address leaves it absent.
func (r *Request) SetSourceIP(a netip.Addr) {
	if !a.IsValid() {
		r.Set(CondSourceIP)
		return
	}
	r.Set(CondSourceIP, a.Unmap().WithZone("").String())
}

// SetSecureTransport sets aws:SecureTransport.
func (r *Request) SetSecureTransport(secure bool) {
	r.Set(CondSecureTransport, strconv.FormatBool(secure))
}

func (r *Request) setOne(key, v string) {
	if v == "" {
		r.Set(key)
		return
	}
	r.Set(key, v)
}

// principalType is the value of aws:PrincipalType for a kind of principal.
// Trent's roles act without sessions, but IAM reports a role's caller as
// AssumedRole, so policies written for AWS keep working.
func principalType(k identity.Kind) string {
	switch k {
	case identity.KindRoot:
		return "Account"
	case identity.KindUser:
		return "User"
	case identity.KindRole:
		return "AssumedRole"
	}
	return ""
}
