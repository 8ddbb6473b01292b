package server

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

// The principal of a client certificate is parsed once per connection:
// each connection has its own entry, and an entry answers only for the
// certificate it was made from.
func TestPeerPrincipalCachedPerConnection(t *testing.T) {
	now := time.Now()
	ca, err := identity.NewCA("test", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(p identity.Principal) *x509.Certificate {
		key, _ := identity.NewKeyPair()
		der, err := ca.IssueClient(p, key.Public(), now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootA, rootB := identity.RootPrincipal("111122223333"), identity.RootPrincipal("444455556666")
	certA, certB := issue(rootA), issue(rootB)
	parses := 0
	principalFromCert = func(c *x509.Certificate) (identity.Principal, error) {
		parses++
		return identity.PrincipalFromCert(c)
	}
	t.Cleanup(func() { principalFromCert = identity.PrincipalFromCert })

	connA, connB := withPeerCache(context.Background(), nil), withPeerCache(context.Background(), nil)
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		leaf       *x509.Certificate
		want       identity.Principal
		wantParses int
	}{
		{"first request on A parses", connA, certA, rootA, 1},
		{"next requests on A do not", connA, certA, rootA, 1},
		{"B has its own entry", connB, certB, rootB, 2},
		{"A's entry is still A's", connA, certA, rootA, 2},
		{"another certificate on A is not answered from A's entry", connA, certB, rootB, 3},
		{"no cache: parsed every time", context.Background(), certA, rootA, 4},
		{"no cache: parsed every time, again", context.Background(), certA, rootA, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := peerPrincipalOf(tc.ctx, tc.leaf)
			if err != nil || p != tc.want || parses != tc.wantParses {
				t.Errorf("principal %v, %v after %d parses; want %v after %d", p, err, parses, tc.want, tc.wantParses)
			}
		})
	}
}
