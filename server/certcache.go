package server

import (
	"context"
	"crypto/x509"
	"net"
	"sync/atomic"

	"github.com/trentkms/trent/identity"
)

// A client certificate is the same for every request of a TLS connection,
// so the gate reads the principal it names once per connection, not per
// request (it was ~4% of a request's CPU). Revocation is still checked per
// request.

// peerCache holds, per connection, the principal its client certificate
// names.
type peerCache struct{ v atomic.Pointer[peerPrincipal] }

// peerPrincipal is what PrincipalFromCert said of leaf.
type peerPrincipal struct {
	leaf *x509.Certificate
	p    identity.Principal
	err  error
}

type peerCacheKey struct{}

// withPeerCache is the API server's ConnContext: each connection gets its
// own cache.
func withPeerCache(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, peerCacheKey{}, &peerCache{})
}

// principalFromCert is identity.PrincipalFromCert (a variable for tests).
var principalFromCert = identity.PrincipalFromCert

// peerPrincipalOf returns the principal that leaf names, from the
// connection's cache when the cached entry is for this very certificate.
func peerPrincipalOf(ctx context.Context, leaf *x509.Certificate) (identity.Principal, error) {
	c, _ := ctx.Value(peerCacheKey{}).(*peerCache)
	if c != nil {
		if e := c.v.Load(); e != nil && e.leaf == leaf {
			return e.p, e.err
		}
	}
	p, err := principalFromCert(leaf)
	if c != nil {
		c.v.Store(&peerPrincipal{leaf: leaf, p: p, err: err})
	}
	return p, err
}
