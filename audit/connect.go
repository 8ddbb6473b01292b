package audit

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// The interceptor reads the Trent-* headers the Connect transport (package
// rpc) sets (wire's), so that it can run outside rpc's error mapping. A
// call whose record cannot be written is answered with
// KMSInternalException; a request that could not be read
// (SerializationException) is recorded with a fixed message, as its own
// may quote the body.

// tracker marks a request that the interceptor recorded, so that
// Middleware records only the requests that never reached it.
type tracker struct{ recorded bool }

type trackerKey struct{}

// Interceptor records every unary call of a Connect service whose event
// source is source (SourceKMS or SourceIAM). It must run outside the
// interceptor that maps errors to AWS names (it reads the
// Trent-Error-Type metadata) and sets Trent-Request-Id on the response.
// If the record cannot be written the call is answered with
// KMSInternalException instead.
func (l *Log) Interceptor(source string, opts ...InterceptorOption) connect.Interceptor {
	var o interceptorOptions
	for _, opt := range opts {
		opt(&o)
	}
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			resp, err := next(ctx, req)
			if o.skip != nil && o.skip(req.Spec().Procedure, err) {
				// Deliberately unrecorded: Middleware must not record it
				// as a request that never arrived either.
				if t, ok := ctx.Value(trackerKey{}).(*tracker); ok {
					t.recorded = true
				}
				return resp, err
			}
			p, _ := identity.FromContext(ctx)
			c := &Call{
				Source:    source,
				Operation: procedureName(req.Spec().Procedure),
				Protocol:  req.Peer().Protocol,
				Principal: p,
				SourceIP:  req.Peer().Addr,
				UserAgent: req.Header().Get("User-Agent"),
			}
			if c.RequestID = RequestID(ctx); c.RequestID == "" {
				c.RequestID, _ = newUUID(l.opts.Rand)
			}
			if in, ok := req.Any().(proto.Message); ok {
				c.Input = in
			}
			var meta http.Header
			if err != nil {
				c.ErrorCode, c.ErrorMessage = connectError(err)
				if ce := new(connect.Error); errors.As(err, &ce) {
					meta = ce.Meta()
				}
			} else {
				meta = resp.Header()
				if out, ok := resp.Any().(proto.Message); ok {
					c.Output = out
				}
			}
			if meta != nil {
				c.AppliedIndex = parseUint(meta.Get(wire.AppliedIndexHeader))
				c.Consistency = meta.Get(wire.ConsistencyHeader)
				c.StalenessBound = meta.Get(wire.StalenessBoundHeader)
				c.SimulatedPropagation = meta.Get(wire.SimulatedPropagationHeader)
			}
			if t, ok := ctx.Value(trackerKey{}).(*tracker); ok {
				t.recorded = true
			}
			// A call whose context ended (the client left, or the
			// server's time limit passed) is recorded all the same, and
			// its caller gets the call's own answer once the record is
			// durable, not an internal error for the wait it gave up.
			if rerr := l.Record(context.WithoutCancel(ctx), c); rerr != nil {
				l.CallRefused(ctx, l.opts.Logger, rerr, "audit record not written; answering an internal error", "op", c.Operation)
				ce := connect.NewError(connect.CodeInternal, errors.New("internal error"))
				ce.Meta().Set(wire.ErrorTypeHeader, wire.KMSInternal)
				return nil, ce
			}
			if meta != nil {
				meta.Set(wire.RequestIDHeader, c.RequestID)
			}
			return resp, err
		}
	})
}

// InterceptorOption configures [Log.Interceptor].
type InterceptorOption func(*interceptorOptions)

type interceptorOptions struct {
	skip func(procedure string, err error) bool
}

// Unrecorded leaves out of the trail the calls for which skip returns
// true, given the call's procedure and its outcome (nil on success). The
// ClusterService uses it for node-to-node forwarding, which the call that
// caused it has already recorded.
func Unrecorded(skip func(procedure string, err error) bool) InterceptorOption {
	return func(o *interceptorOptions) { o.skip = skip }
}

// Middleware records the requests to a Connect service that fail before
// they reach [Log.Interceptor]: a missing or unusable client certificate
// (the server's gate answers them), an unknown procedure, a body that
// cannot be decoded. Wrap the authentication handler with it; requests the
// interceptor records are not recorded twice.
func (l *Log) Middleware(source string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &tracker{}
		sw := &StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), trackerKey{}, t)))
		if t.recorded {
			return
		}
		c := &Call{
			Source:    source,
			Operation: procedureName(r.URL.Path),
			Protocol:  protocolOf(r),
			SourceIP:  r.RemoteAddr,
			UserAgent: r.Header.Get("User-Agent"),
			ErrorCode: headerOrTrailer(w.Header(), wire.ErrorTypeHeader),
		}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
			c.Principal, _ = identity.PrincipalFromCert(r.TLS.PeerCertificates[0])
		}
		switch {
		case c.ErrorCode == wire.UnrecognizedClient:
			c.ErrorMessage = "The request was not authenticated: its client certificate is missing, revoked, or names no IAM principal."
		case c.ErrorCode != "":
		case sw.status == http.StatusNotFound:
			c.ErrorCode, c.ErrorMessage = wire.UnknownOperation, "No such operation."
		default:
			c.ErrorCode = wire.Serialization
		}
		if err := l.Record(context.WithoutCancel(r.Context()), c); err != nil {
			l.opts.Logger.ErrorContext(r.Context(), "audit record of a rejected request not written", "op", c.Operation, "err", err)
		}
	})
}

// StatusWriter remembers the status code a handler answered with, for its
// audit record; Unwrap keeps http.ResponseController (flushing, trailers,
// full duplex) working.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the status code written so far (0 if none).
func (w *StatusWriter) Status() int { return w.status }

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func headerOrTrailer(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	return h.Get(http.TrailerPrefix + name)
}

// protocolOf guesses the protocol of a request that never reached connect.
func protocolOf(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return connect.ProtocolGRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return connect.ProtocolGRPC
	}
	return connect.ProtocolConnect
}

// procedureName returns Encrypt for /trent.kms.v1.KeyManagementService/Encrypt,
// at most 128 bytes of it (the path of a refused request is the caller's).
func procedureName(procedure string) string {
	name := procedure[strings.LastIndexByte(procedure, '/')+1:]
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}

// connectError returns the AWS name and message of a call's error.
func connectError(err error) (string, string) {
	ce := new(connect.Error)
	if !errors.As(err, &ce) {
		return wire.KMSInternal, "internal error"
	}
	if t := ce.Meta().Get(wire.ErrorTypeHeader); t != "" {
		return t, ce.Message()
	}
	return ce.Code().String(), ce.Message()
}

func parseUint(s string) uint64 {
	var n uint64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}
