package kms

import (
	"errors"
	"fmt"
)

// AWS error names used by the service.
const (
	AccessDenied             = "AccessDeniedException"
	AlreadyExists            = "AlreadyExistsException"
	DependencyTimeout        = "DependencyTimeoutException"
	DisabledErr              = "DisabledException"
	DryRunOperation          = "DryRunOperationException"
	IncorrectKey             = "IncorrectKeyException"
	InvalidArn               = "InvalidArnException"
	InvalidCiphertext        = "InvalidCiphertextException"
	InvalidGrantToken        = "InvalidGrantTokenException"
	InvalidGrantId           = "InvalidGrantIdException"
	InvalidKeyUsage          = "InvalidKeyUsageException"
	InvalidMarker            = "InvalidMarkerException"
	KMSInternal              = "KMSInternalException"
	KMSInvalidState          = "KMSInvalidStateException"
	LimitExceeded            = "LimitExceededException"
	MalformedPolicyDocument  = "MalformedPolicyDocumentException"
	NotFound                 = "NotFoundException"
	TagErr                   = "TagException"
	UnsupportedOperation     = "UnsupportedOperationException"
	Validation               = "ValidationException"
	UnrecognizedClient       = "UnrecognizedClientException"
	UnauthenticatedPrincipal = "UnauthenticatedException"
	ServiceUnavailable       = "ServiceUnavailableException"
)

// Error is a service error: Type is the AWS error name (for example
// NotFoundException) and Message the text callers see. Messages never
// contain plaintext, key material or internal detail.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

func newError(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// validation returns a ValidationException in AWS's Coral style.
func validation(format string, args ...any) *Error {
	return &Error{Type: Validation, Message: "1 validation error detected: " + fmt.Sprintf(format, args...)}
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
