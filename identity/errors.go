package identity

import (
	"errors"
	"fmt"
)

// ErrInvalidARN is matched (with errors.Is) by every error from
// [ParsePrincipal] and [ParseKMSARN]. The AWS-compatible API maps it to
// InvalidArnException.
var ErrInvalidARN = errors.New("invalid ARN")

// ErrNotPrincipal is matched by errors from [PrincipalFromCert] and
// [PrincipalFromTLS] when a certificate does not name a principal: it lacks
// the ClientAuth usage, is a node or CA certificate, or its URI SAN is
// missing, repeated or not an IAM principal ARN.
var ErrNotPrincipal = errors.New("certificate does not identify a principal")

// ErrNotNode is matched by errors from [NodeIDFromCert] and the
// VerifyConnection checks of [NodeTLSConfigs] and [ClientTLSConfig] when a
// certificate is not a node certificate.
var ErrNotNode = errors.New("certificate does not identify a cluster node")

// ErrNoClientCert is returned by [PrincipalFromTLS] when the peer sent no
// client certificate. The API answers it with Unauthenticated.
var ErrNoClientCert = errors.New("no client certificate")

// Why [CA.SignCSR] refuses a certificate request. The errors that match
// these (with errors.Is) keep their own text.
var (
	// ErrMalformedCSR: the request is not a PKCS #10 certificate request.
	ErrMalformedCSR = errors.New("malformed certificate request")
	// ErrCSRSignature: the request's self-signature does not verify, so it
	// does not prove possession of the key it asks a certificate for.
	ErrCSRSignature = errors.New("certificate request signature is invalid")
)

// markedError is err, which errors.Is also finds to be sentinel.
type markedError struct {
	sentinel, err error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.sentinel, e.err} }

// mark returns err, matching sentinel too, with err's text unchanged.
func mark(sentinel, err error) error { return &markedError{sentinel, err} }

// A CertError says why a certificate does not identify a principal or a
// node. It matches its Err, [ErrNotPrincipal] or [ErrNotNode]. Its Reason
// describes only the certificate and is safe to return to its holder.
type CertError struct {
	Err    error  // ErrNotPrincipal or ErrNotNode
	Reason string // what is wrong, e.g. "it is a CA certificate"
}

// Error returns Err's text and the reason: `<Err>: <reason>`.
func (e *CertError) Error() string { return e.Err.Error() + ": " + e.Reason }

// Unwrap returns Err.
func (e *CertError) Unwrap() error { return e.Err }

// An ARNError reports why an ARN was rejected. It matches [ErrInvalidARN].
// Its message quotes the caller's own input and is safe to return to them.
type ARNError struct {
	ARN    string // the input, as given
	Reason string // what is wrong, e.g. `account ID must be exactly 12 digits, got "1234"`
	what   string // "principal" or "KMS"
}

// Error returns `invalid principal ARN "<arn>": <reason>` (or "KMS ARN"),
// eliding the middle of very long input.
func (e *ARNError) Error() string {
	what := "invalid ARN"
	if e.what != "" {
		what = "invalid " + e.what + " ARN"
	}
	return fmt.Sprintf("%s %q: %s", what, elide(e.ARN, 160), e.Reason)
}

// Is reports whether target is [ErrInvalidARN].
func (e *ARNError) Is(target error) bool { return target == ErrInvalidARN }

// elide shortens s to at most n bytes (plus an ellipsis) for messages.
func elide(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2] + "…" + s[len(s)-n/2:]
}
