package rpc

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/trentkms/trent/consistency"

	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// unimplemented answers every operation the service lacks. It sits one
// embedding level deeper than the service in handler, so the service's
// methods win wherever it has them.
type unimplemented struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
}

type handler struct {
	*kms.Service
	unimplemented
}

var _ kmsv1connect.KeyManagementServiceHandler = handler{}

// Service returns svc as the complete generated handler interface: the
// operations svc implements, and an Unimplemented answer for the rest.
// Other transports (the AWS JSON endpoint) dispatch through it too.
func Service(svc *kms.Service) kmsv1connect.KeyManagementServiceHandler {
	return handler{Service: svc}
}

// Options configures the handler.
type Options struct {
	// NodeID is reported in the Trent-Served-By header.
	NodeID string
	// ReadMaxBytes caps request size; zero means 4 MiB.
	ReadMaxBytes int
	// LeaderHint, if set, returns the leader's API address, sent in the
	// Trent-Leader header of retryable (Unavailable) errors.
	LeaderHint func() string
	// Reads admits each call under the consistency the client asked for
	// (Trent-Consistency and friends) and reports how it was served. Nil
	// admits everything and reports nothing (single-process tests).
	Reads Admitter
	// Interceptors run outside the error mapping, outermost first (the
	// audit interceptor sees errors with their AWS names).
	Interceptors []connect.Interceptor
	// HandlerOptions are applied after the handler's own (they win over
	// ReadMaxBytes): the server's limits.
	HandlerOptions []connect.HandlerOption
	// Quota, if set, counts each call against the request quotas of the
	// caller's account before it is admitted (see package quota).
	Quota Limiter
	// Delayed, if set, serves the reads admitted to the delayed view of a
	// simulated propagation delay (Views).
	Delayed *kms.Service
}

// Limiter counts a call of op by account against its request quota; an
// error refuses the call as ThrottlingException.
type Limiter interface {
	Allow(account, op string) error
}

// Admitter decides whether this node may serve a call now; see package
// consistency.
type Admitter = consistency.Admitter

// NewHandler returns the path prefix and HTTP handler serving svc.
func NewHandler(svc *kms.Service, opts Options) (string, http.Handler) {
	if opts.ReadMaxBytes == 0 {
		opts.ReadMaxBytes = 4 << 20
	}
	h := Service(svc)
	if opts.Delayed != nil {
		h = Views(svc, opts.Delayed)
	}
	return kmsv1connect.NewKeyManagementServiceHandler(h,
		connect.WithInterceptors(append(slices.Clip(opts.Interceptors), callInterceptor(opts.NodeID, opts.Reads, opts.LeaderHint, opts.Quota))...),
		connect.WithReadMaxBytes(opts.ReadMaxBytes),
		// KMS messages are small; gzip of a 200-byte response costs more
		// CPU than the bytes it saves (a fifth of Encrypt's CPU when on).
		connect.WithCompressMinBytes(1024),
		connect.WithHandlerOptions(opts.HandlerOptions...),
	)
}

// Interceptor returns the interceptor NewHandler uses, for other services
// on the same listener (IAM): consistency admission, error mapping and
// call metadata headers.
func Interceptor(nodeID string, reads Admitter, leaderHint func() string) connect.Interceptor {
	return callInterceptor(nodeID, reads, leaderHint, nil)
}

// callInterceptor counts each call against its quota, admits it under its
// requested consistency, maps errors, and reports call metadata in
// headers.
func callInterceptor(nodeID string, reads Admitter, leaderHint func() string, quota Limiter) connect.UnaryInterceptorFunc {
	fail := func(err error, procedure string) *connect.Error {
		ce := toConnect(err, procedure)
		ce.Meta().Set(wire.ServedByHeader, nodeID)
		if leaderHint != nil && ce.Code() == connect.CodeUnavailable {
			if l := leaderHint(); l != "" {
				ce.Meta().Set(wire.LeaderHeader, l)
			}
		}
		return ce
	}
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if err := throttle(ctx, quota, req.Spec().Procedure); err != nil {
				return nil, fail(err, req.Spec().Procedure)
			}
			served, err := admit(ctx, reads, req.Header(), req.Any())
			if err != nil {
				return nil, fail(err, req.Spec().Procedure)
			}
			info := &wire.CallInfo{}
			resp, err := next(consistency.WithServed(wire.WithCallInfo(ctx, info), served), req)
			if err != nil {
				return nil, fail(err, req.Spec().Procedure)
			}
			h := resp.Header()
			h.Set(wire.ServedByHeader, nodeID)
			if reads != nil {
				consistency.Report(h, served, info.AppliedIndex, info.ReadIndex)
			}
			return resp, nil
		}
	}
}

// throttle counts a call of procedure by the caller in ctx against its
// quota; a refusal is a ThrottlingException *wire.Error.
func throttle(ctx context.Context, quota Limiter, procedure string) error {
	if quota == nil {
		return nil
	}
	p, _ := identity.FromContext(ctx)
	if err := quota.Allow(p.Account, procedure[strings.LastIndexByte(procedure, '/')+1:]); err != nil {
		return &wire.Error{Type: wire.Throttling, Message: err.Error()}
	}
	return nil
}

// admit applies the consistency a call asks for; a refusal is a
// *wire.Error, which toConnect sends as it is.
func admit(ctx context.Context, reads Admitter, h http.Header, msg any) (consistency.Served, error) {
	if reads == nil {
		return consistency.Served{}, nil
	}
	m, _ := msg.(proto.Message)
	return consistency.Admit(ctx, reads, h, m)
}
