package kms

import (
	"context"
	"errors"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
)

// AuthzRequest is one authorization question: may Principal perform Action
// (for example kms:Encrypt) on Key in Account, with this encryption context?
type AuthzRequest struct {
	Principal identity.Principal
	// Action is the IAM action name, kms:<Operation>.
	Action string
	// Key is the key acted on, or nil for operations without one
	// (CreateKey, ListKeys, GenerateRandom).
	Key *fsm.Key
	// Resource is the ARN of a resource that is not a key, for a request
	// with no Key: the alias of CreateAlias, UpdateAlias and DeleteAlias.
	// Empty means "*".
	Resource string
	// Account is the account that owns the resource: the key's, or the
	// caller's for operations without a key.
	Account string
	// EncryptionContext is the request's context, for condition keys and
	// grant constraints. For CreateGrant it is the context of the new
	// grant's constraint.
	EncryptionContext map[string]string
	// Grant describes a CreateGrant request, for the kms:Grant* condition
	// keys; nil for other operations.
	Grant *policy.GrantRequest
	// NewKey holds the requested (or defaulted) attributes of a CreateKey,
	// for kms:KeySpec, kms:KeyUsage and kms:KeyOrigin; nil otherwise.
	NewKey *policy.KeyAttributes
	// BypassLockoutCheck is the BypassPolicyLockoutSafetyCheck member of
	// CreateKey and PutKeyPolicy; nil for other operations.
	BypassLockoutCheck *bool
	// RequestAlias is the alias name ("alias/<name>") the request named
	// Key by, for kms:RequestAlias; "" when it used a key id or ARN.
	RequestAlias string
	// RequestTags are the tags the request sets (CreateKey's Tags,
	// TagResource), for aws:RequestTag/<key> and aws:TagKeys.
	RequestTags []fsm.Tag
	// TagKeys are the tag keys UntagResource removes, for aws:TagKeys.
	TagKeys []string
	// ReEncryptOnSameKey says whether a ReEncrypt's destination is its
	// source key, for kms:ReEncryptOnSameKey; nil for other operations.
	ReEncryptOnSameKey *bool
	// KeyAliases are the names of Key's aliases, for kms:ResourceAliases;
	// the Service fills them in.
	KeyAliases []string
	// PendingWindowInDays is ScheduleKeyDeletion's waiting period (30
	// when the request omits it), for
	// kms:ScheduleKeyDeletionPendingWindowInDays; nil for other operations.
	PendingWindowInDays *int32
	// RotationPeriodInDays is EnableKeyRotation's period (365 when the
	// request omits it), for kms:RotationPeriodInDays; nil for other
	// operations.
	RotationPeriodInDays *int32
	// SigningAlgorithm and MessageType are Sign's and Verify's members
	// (MessageType RAW when omitted), for kms:SigningAlgorithm and
	// kms:MessageType; MacAlgorithm is GenerateMac's and VerifyMac's, for
	// kms:MacAlgorithm. Empty for other operations.
	SigningAlgorithm, MessageType, MacAlgorithm string
	// EncryptionAlgorithm is an RSA Encrypt's or Decrypt's algorithm, for
	// kms:EncryptionAlgorithm; empty means SYMMETRIC_DEFAULT.
	EncryptionAlgorithm string
	// DataKeyPairSpec is GenerateDataKeyPair*'s KeyPairSpec, for
	// kms:DataKeyPairSpec; empty for other operations.
	DataKeyPairSpec string
	// KeyAgreementAlgorithm is DeriveSharedSecret's, for
	// kms:KeyAgreementAlgorithm; empty for other operations.
	KeyAgreementAlgorithm string
	// WrappingAlgorithm and WrappingKeySpec are GetParametersForImport's,
	// for kms:WrappingAlgorithm and kms:WrappingKeySpec; ExpirationModel
	// and ValidTo (Unix ms, 0 when the material does not expire) are
	// ImportKeyMaterial's, for kms:ExpirationModel and kms:ValidTo. Empty
	// for other operations.
	WrappingAlgorithm, WrappingKeySpec, ExpirationModel string
	ValidTo                                             int64
}

// Authorizer decides whether a request is allowed. It returns nil to allow
// and a non-nil error to deny; a *wire.Error is passed to the caller as is, any
// other error becomes AWS's AccessDeniedException message.
type Authorizer interface {
	Authorize(ctx context.Context, r *AuthzRequest) error
}

// Denials an Authorizer returns. ErrDenied is an implicit deny (nothing
// allowed): grants may still allow. ErrExplicitDeny is a Deny statement:
// it wins over everything, grants included.
var (
	ErrDenied       = errors.New("kms: access denied")
	ErrExplicitDeny = errors.New("kms: explicitly denied")
)

// AccountRoot is a fixed rule, the authorizer before key policies and the
// baseline of the authorization benchmarks: the root principal of an
// account may do everything in its account; every other principal is
// denied (grants may still allow). The default is PolicyAuthorizer.
type AccountRoot struct{}

// Authorize implements Authorizer.
func (AccountRoot) Authorize(_ context.Context, r *AuthzRequest) error {
	if r.Principal.IsRoot() && r.Principal.Account == r.Account {
		return nil
	}
	return ErrDenied
}
