package rpc

import (
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// codes maps AWS error names to Connect codes. Names not listed are
// InvalidArgument (client errors) unless they are server faults below.
var codes = map[string]connect.Code{
	wire.AccessDenied:             connect.CodePermissionDenied,
	wire.AlreadyExists:            connect.CodeAlreadyExists,
	wire.Conflict:                 connect.CodeAborted,
	wire.DependencyTimeout:        connect.CodeUnavailable,
	wire.Disabled:                 connect.CodeFailedPrecondition,
	wire.DryRunOperation:          connect.CodeFailedPrecondition,
	wire.KMSInternal:              connect.CodeInternal,
	wire.KMSInvalidState:          connect.CodeFailedPrecondition,
	wire.LimitExceeded:            connect.CodeResourceExhausted,
	wire.NotFound:                 connect.CodeNotFound,
	wire.Throttling:               connect.CodeResourceExhausted,
	wire.UnsupportedOperation:     connect.CodeUnimplemented,
	wire.UnrecognizedClient:       connect.CodeUnauthenticated,
	wire.UnauthenticatedPrincipal: connect.CodeUnauthenticated,
	wire.ServiceUnavailable:       connect.CodeUnavailable,
	// IAM's names (package iam).
	wire.IAMAccessDenied:     connect.CodePermissionDenied,
	wire.EntityAlreadyExists: connect.CodeAlreadyExists,
	wire.NoSuchEntity:        connect.CodeNotFound,
	wire.IAMLimitExceeded:    connect.CodeResourceExhausted,
	wire.ServiceFailure:      connect.CodeInternal,
}

// Code returns the Connect code for an AWS error name.
func Code(awsType string) connect.Code {
	if c, ok := codes[awsType]; ok {
		return c
	}
	return connect.CodeInvalidArgument
}

// toConnect converts a service error into a Connect error carrying the AWS
// name. Errors that are not *wire.Error are internal and their text is not
// sent.
func toConnect(err error, procedure string) *connect.Error {
	var ke *wire.Error
	if !errors.As(err, &ke) {
		var ce *connect.Error
		if errors.As(err, &ce) {
			switch ce.Code() {
			case connect.CodeUnimplemented:
				op := procedure[strings.LastIndexByte(procedure, '/')+1:]
				ke = &wire.Error{Type: wire.UnsupportedOperation, Message: fmt.Sprintf("%s is not implemented by this Trent version yet.", op)}
			case connect.CodeCanceled, connect.CodeDeadlineExceeded:
				ce.Meta().Set(wire.ErrorTypeHeader, wire.DependencyTimeout)
				return ce
			default:
				ke = &wire.Error{Type: wire.KMSInternal, Message: "internal error"}
			}
		} else {
			ke = &wire.Error{Type: wire.KMSInternal, Message: "internal error"}
		}
	}
	ce := connect.NewError(Code(ke.Type), errors.New(ke.Message))
	ce.Meta().Set(wire.ErrorTypeHeader, ke.Type)
	if d, derr := connect.NewErrorDetail(&kmsv1.ErrorInfo{Type: ke.Type}); derr == nil {
		ce.AddDetail(d)
	}
	return ce
}
