package identity_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

// craft signs tmpl with ca's key directly, to build certificates that
// IssueNode and IssueClient would never produce.
func craft(tb testing.TB, ca *identity.CA, tmpl *x509.Certificate) *x509.Certificate {
	tb.Helper()
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := identity.ParseKeyPEM(keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(42)
	if tmpl.Subject.CommonName == "" {
		tmpl.Subject.CommonName = "crafted"
	}
	tmpl.NotBefore, tmpl.NotAfter = testNow.Add(-time.Hour), testNow.Add(time.Hour)
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(nil, tmpl, ca.Certificate(), newKey(tb).Public(), signer)
	if err != nil {
		tb.Fatal(err)
	}
	return parseCert(tb, der)
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestPrincipalFromCertRejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	bob := mustURL(t, "arn:aws:iam::111122223333:user/bob")
	alice := mustURL(t, "arn:aws:iam::111122223333:user/alice")
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name string
		cert *x509.Certificate
		want string
	}{
		{"nil", nil, "no certificate"},
		{"ca_cert", ca.Certificate(), "CA certificate"},
		{"no_eku", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}}), "lacks the ClientAuth"},
		{"server_only", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), "lacks the ClientAuth"},
		{"server_and_client", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}), "ServerAuth"},
		{"no_uri", craft(t, ca, &x509.Certificate{ExtKeyUsage: client, DNSNames: []string{"bob"}}), "has 0 URI SANs"},
		{"two_uris", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob, alice}, ExtKeyUsage: client}), "has 2 URI SANs"},
		{"node_uri", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://node/n1")}, ExtKeyUsage: client}), "names a node"},
		{"spiffe_uri", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "spiffe://td/admin/bob")}, ExtKeyUsage: client}), `must start with "arn:"`},
		{"group_arn", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "arn:aws:iam::111122223333:group/admins")}, ExtKeyUsage: client}), "not a principal"},
		{"arn_with_fragment", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "arn:aws:iam::111122223333:user/bob#x")}, ExtKeyUsage: client}), `contains "#"`},
		{"two_uids", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}, ExtKeyUsage: client,
			Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{uid(testUserID), uid(testUserID)}}}), "2 uid attributes"},
		{"role_id_on_user", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}, ExtKeyUsage: client,
			Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{uid("AROA" + testUserID[4:])}}}), "not the unique id of a user"},
		{"lowercase_id", craft(t, ca, &x509.Certificate{URIs: []*url.URL{bob}, ExtKeyUsage: client,
			Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{uid(strings.ToLower(testUserID))}}}), "not the unique id"},
		{"id_on_root", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "arn:aws:iam::111122223333:root")}, ExtKeyUsage: client,
			Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{uid(testUserID)}}}), "not the unique id of a root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := identity.PrincipalFromCert(tt.cert)
			if !errors.Is(err, identity.ErrNotPrincipal) {
				t.Fatalf("PrincipalFromCert = %+v, %v; want ErrNotPrincipal", p, err)
			}
			if ce := (*identity.CertError)(nil); !errors.As(err, &ce) || !strings.Contains(ce.Reason, tt.want) {
				t.Errorf("error %q is not a *CertError whose reason says %q", err, tt.want)
			}
		})
	}
}

// testUserID is a user id in the shape IAM gives (21 characters).
const testUserID = "AIDAJQABLZS4A3QDU576Q"

// uidType is the LDAP uid attribute type (RFC 4519) that carries a
// principal's unique id in a client certificate's subject.
var uidType = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

func uid(id string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: uidType, Value: id}
}

// A certificate issued to a user or role carries its unique id in its
// subject's uid attribute, and the id comes back from PrincipalFromCert.
func TestClientCertCarriesThePrincipalID(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	tests := []struct {
		arn, id string
	}{
		{"arn:aws:iam::111122223333:user/bob", testUserID},
		{"arn:aws:iam::111122223333:user/old", "AIDAJQABLZS4A3QDU576"}, // 16 characters, as ids were before
		{"arn:aws:iam::111122223333:role/ops/KeyAdmin", "AROAJQABLZS4A3QDU576Q"},
		{"arn:aws:iam::111122223333:user/bob", ""}, // no id: as issued before ids were carried
	}
	for _, tt := range tests {
		t.Run(tt.arn+"/"+tt.id, func(t *testing.T) {
			t.Parallel()
			p := mustPrincipal(t, tt.arn)
			p.ID = tt.id
			der, err := ca.IssueClient(p, newKey(t).Public(), testNow, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c := parseCert(t, der)
			got, err := identity.PrincipalFromCert(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != p {
				t.Errorf("PrincipalFromCert = %+v, want %+v", got, p)
			}
			var uids []any
			for _, a := range c.Subject.Names {
				if a.Type.Equal(uidType) {
					uids = append(uids, a.Value)
				}
			}
			if want := []any{tt.id}; tt.id != "" && !slices.Equal(uids, want) || tt.id == "" && len(uids) != 0 {
				t.Errorf("subject uid attributes %v, want the id %q", uids, tt.id)
			}
		})
	}
}

func TestIssueClientRefusesAnIDOfTheWrongKind(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	for _, tt := range []struct{ arn, id string }{
		{"arn:aws:iam::111122223333:user/bob", "AROAJQABLZS4A3QDU576Q"},
		{"arn:aws:iam::111122223333:role/ops", testUserID},
		{"arn:aws:iam::111122223333:root", testUserID},
		{"arn:aws:iam::111122223333:user/bob", "AIDA"},
		{"arn:aws:iam::111122223333:user/bob", testUserID + "XY"},
	} {
		p := mustPrincipal(t, tt.arn)
		p.ID = tt.id
		if _, err := ca.IssueClient(p, newKey(t).Public(), testNow, time.Hour); err == nil {
			t.Errorf("IssueClient(%s with id %q) succeeded", tt.arn, tt.id)
		}
	}
}

func TestNodeIDFromCertRejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	n1 := mustURL(t, "trent://node/n1")
	tests := []struct {
		name string
		cert *x509.Certificate
		want string
	}{
		{"nil", nil, "no certificate"},
		{"ca_cert", ca.Certificate(), "CA certificate"},
		{"client_cert", parseCert(t, clientCert(t, ca, "arn:aws:iam::111122223333:user/bob").Certificate[0]), "lacks the ServerAuth and ClientAuth"},
		{"client_only_with_node_uri", craft(t, ca, &x509.Certificate{URIs: []*url.URL{n1}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}), "lacks the ServerAuth"},
		{"server_only", craft(t, ca, &x509.Certificate{URIs: []*url.URL{n1}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), "lacks the ServerAuth"},
		{"no_uri", craft(t, ca, &x509.Certificate{ExtKeyUsage: both, DNSNames: []string{"n1"}}), "has 0 URI SANs"},
		{"two_uris", craft(t, ca, &x509.Certificate{URIs: []*url.URL{n1, mustURL(t, "trent://node/n2")}, ExtKeyUsage: both}), "has 2 URI SANs"},
		{"arn_uri", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "arn:aws:iam::111122223333:root")}, ExtKeyUsage: both}), "is not trent://node/<id>"},
		{"wrong_host", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://admin/n1")}, ExtKeyUsage: both}), "is not trent://node/<id>"},
		{"empty_id", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://node/")}, ExtKeyUsage: both}), "is not trent://node/<id>"},
		{"nested_path", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://node/a/b")}, ExtKeyUsage: both}), `contains "/"`},
		{"query", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://node/n1?x=1")}, ExtKeyUsage: both}), "not in canonical form"},
		{"port", craft(t, ca, &x509.Certificate{URIs: []*url.URL{mustURL(t, "trent://node:1/n1")}, ExtKeyUsage: both}), "is not trent://node/<id>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := identity.NodeIDFromCert(tt.cert)
			if !errors.Is(err, identity.ErrNotNode) {
				t.Fatalf("NodeIDFromCert = %q, %v; want ErrNotNode", id, err)
			}
			if ce := (*identity.CertError)(nil); !errors.As(err, &ce) || !strings.Contains(ce.Reason, tt.want) {
				t.Errorf("error %q is not a *CertError whose reason says %q", err, tt.want)
			}
		})
	}
}

func TestPrincipalFromTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	bobCert := parseCert(t, clientCert(t, ca, "arn:aws:iam::111122223333:user/bob").Certificate[0])
	nodeC := parseCert(t, nodeCert(t, ca, "n1").Certificate[0])
	tests := []struct {
		name    string
		cs      *tls.ConnectionState
		wantErr error
	}{
		{"nil", nil, identity.ErrNoClientCert},
		{"no_cert", &tls.ConnectionState{}, identity.ErrNoClientCert},
		{"unverified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{bobCert}}, identity.ErrNotPrincipal},
		{"node", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{nodeC}, VerifiedChains: [][]*x509.Certificate{{nodeC, ca.Certificate()}}}, identity.ErrNotPrincipal},
		{"bob", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{bobCert}, VerifiedChains: [][]*x509.Certificate{{bobCert, ca.Certificate()}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := identity.PrincipalFromTLS(tt.cs)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("PrincipalFromTLS = %+v, %v; want error %v", p, err, tt.wantErr)
			}
			if err == nil && p.ARN != "arn:aws:iam::111122223333:user/bob" {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}
