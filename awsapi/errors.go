package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/wire"
)

// apiError is an AWS JSON 1.1 error response: the HTTP status, the error
// name sent as __type and X-Amzn-Errortype, and the message.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// newError returns an error whose status follows from typ.
func newError(typ, format string, args ...any) *apiError {
	return &apiError{status: statusOf(typ), typ: typ, msg: fmt.Sprintf(format, args...)}
}

// statusOf returns the HTTP status for an AWS error name. Like AWS's own
// responses (and unlike the Smithy model's legacy httpError codes), every
// client error is 400; SDKs dispatch on the name, and retry on 5xx.
func statusOf(typ string) int {
	switch typ {
	case wire.KMSInternal, wire.KeyUnavailable:
		return http.StatusInternalServerError
	case wire.DependencyTimeout, wire.ServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// internalError is the opaque answer to anything unexpected.
func internalError() *apiError {
	return newError(wire.KMSInternal, "internal error")
}

// serviceError converts an error returned by the service handler for
// operation op. Only *wire.Error messages reach the caller; anything
// unexpected becomes an opaque KMSInternalException, and internal is true
// so the caller logs it.
func serviceError(err error, op string) (e *apiError, internal bool) {
	var ke *wire.Error
	if errors.As(err, &ke) {
		return newError(ke.Type, "%s", ke.Message), false
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnimplemented:
			return newError(wire.UnsupportedOperation, "%s is not implemented by this Trent version yet.", op), false
		case connect.CodeCanceled, connect.CodeDeadlineExceeded:
			return timeoutError(), false
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return timeoutError(), false
	}
	return internalError(), true
}

func timeoutError() *apiError {
	return newError(wire.DependencyTimeout, "The request did not complete in time; retry it.")
}

// messageKey returns the body member that carries the message. AWS KMS
// spells it Message for AccessDeniedException and message otherwise; SDKs
// read both.
func messageKey(typ string) string {
	if typ == wire.AccessDenied {
		return "Message"
	}
	return "message"
}

// appendError appends e's JSON body: {"__type":"<Name>","message":"<text>"}.
func appendError(b []byte, e *apiError) []byte {
	b = append(b, `{"__type":`...)
	b = appendString(b, e.typ)
	b = append(b, ',')
	b = appendString(b, messageKey(e.typ))
	b = append(b, ':')
	b = appendString(b, e.msg)
	return append(b, '}')
}
