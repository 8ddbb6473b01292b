package wire

import (
	"errors"
	"fmt"
)

// AWS KMS error names, which kms and the transports answer with.
const (
	AccessDenied             = "AccessDeniedException"
	AlreadyExists            = "AlreadyExistsException"
	Conflict                 = "ConflictException"
	DependencyTimeout        = "DependencyTimeoutException"
	Disabled                 = "DisabledException"
	DryRunOperation          = "DryRunOperationException"
	IncorrectKey             = "IncorrectKeyException"
	InvalidAliasName         = "InvalidAliasNameException"
	InvalidArn               = "InvalidArnException"
	InvalidCiphertext        = "InvalidCiphertextException"
	InvalidGrantToken        = "InvalidGrantTokenException"
	InvalidGrantId           = "InvalidGrantIdException"
	InvalidKeyUsage          = "InvalidKeyUsageException"
	InvalidMarker            = "InvalidMarkerException"
	KMSInternal              = "KMSInternalException"
	KMSInvalidState          = "KMSInvalidStateException"
	KMSInvalidSignature      = "KMSInvalidSignatureException"
	KMSInvalidMac            = "KMSInvalidMacException"
	LimitExceeded            = "LimitExceededException"
	MalformedPolicyDocument  = "MalformedPolicyDocumentException"
	NotFound                 = "NotFoundException"
	Tag                      = "TagException"
	Throttling               = "ThrottlingException"
	UnsupportedOperation     = "UnsupportedOperationException"
	Validation               = "ValidationException"
	UnrecognizedClient       = "UnrecognizedClientException"
	UnauthenticatedPrincipal = "UnauthenticatedException"
	ServiceUnavailable       = "ServiceUnavailableException"
	IncorrectKeyMaterial     = "IncorrectKeyMaterialException"
	InvalidImportToken       = "InvalidImportTokenException"
	ExpiredImportToken       = "ExpiredImportTokenException"
)

// Error names of the AWS JSON protocol itself, which the AWS transport
// (awsapi) answers with before or instead of a service.
const (
	MissingAuthenticationToken = "MissingAuthenticationTokenException"
	IncompleteSignature        = "IncompleteSignatureException"
	InvalidSignature           = "InvalidSignatureException"
	UnknownOperation           = "UnknownOperationException"
	Serialization              = "SerializationException"
	KeyUnavailable             = "KeyUnavailableException"
)

// AWS IAM error names, which iam answers with. Two of them differ from the
// KMS names only by the Exception suffix, hence the IAM prefix.
const (
	IAMAccessDenied     = "AccessDenied"
	EntityAlreadyExists = "EntityAlreadyExists"
	IAMLimitExceeded    = "LimitExceeded"
	NoSuchEntity        = "NoSuchEntity"
	ServiceFailure      = "ServiceFailure"
	IAMValidation       = "ValidationError"
)

// Error is the one error a service, or the checks a transport runs before
// it, gives a caller: Type is the AWS error name (for example
// NotFoundException) and Message the text the caller sees. Messages never
// contain plaintext, key material or internal detail. Transports send
// Type and Message as they are; any other error is internal and its text
// is not sent.
//
// The replicated state machine refuses commands with the same type
// (fsm.Rejection), so a refusal at apply time reaches the caller
// unchanged.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf returns an Error of type typ whose message is formatted as
// fmt.Sprintf does.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// Retryable reports whether a client should retry the call, here or on
// another node: the service could not keep its promise in time.
func (e *Error) Retryable() bool {
	return e.Type == DependencyTimeout || e.Type == ServiceUnavailable
}

// TypeOf returns the AWS error name of err, or KMSInternalException for an
// error that is not an *Error.
func TypeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return KMSInternal
}

// The outcomes of proposing a write to the replicated log that are not the
// command's own result. The log (package raft, and package cluster, which
// forwards to the leader) returns them, wrapped or not; services test them
// with errors.Is and answer the caller with a retryable Error.
var (
	// ErrNotLeader means this node is not the leader; nothing was proposed.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrUnknownOutcome means the command may or may not have committed.
	ErrUnknownOutcome = errors.New("raft: leadership lost; outcome unknown")
	// ErrShutdown means the node is shutting down.
	ErrShutdown = errors.New("raft: shut down")
)
