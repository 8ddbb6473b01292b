package kms

import (
	"context"
	"net/netip"
)

// RequestInfo holds facts about a request's connection that policies may
// test: aws:SourceIp and aws:SecureTransport. The transport records them
// with WithRequestInfo; a request without them has neither condition key.
type RequestInfo struct {
	// SourceIP is the client's address; the zero Addr if unknown.
	SourceIP netip.Addr
	// SecureTransport reports whether the request came over TLS.
	SecureTransport bool
}

type requestInfoKey struct{}

// WithRequestInfo returns a context carrying info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo in ctx, if any.
func RequestInfoFrom(ctx context.Context) (RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info, ok
}
