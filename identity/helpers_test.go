package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

// testNow is the fixed clock of the certificate tests.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newTestCA(tb testing.TB, name string) *identity.CA {
	tb.Helper()
	ca, err := identity.NewCA(name, nil, testNow)
	if err != nil {
		tb.Fatalf("NewCA: %v", err)
	}
	return ca
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := identity.NewKeyPair()
	if err != nil {
		tb.Fatalf("NewKeyPair: %v", err)
	}
	return key
}

func mustPrincipal(tb testing.TB, arn string) identity.Principal {
	tb.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func parseCert(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("ParseCertificate: %v", err)
	}
	return c
}

// tlsCert pairs a DER certificate with its key, as tls.X509KeyPair would.
func tlsCert(tb testing.TB, der []byte, key crypto.Signer) tls.Certificate {
	tb.Helper()
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parseCert(tb, der)}
}

func clientCert(tb testing.TB, ca *identity.CA, arn string) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	der, err := ca.IssueClient(mustPrincipal(tb, arn), key.Public(), testNow, 24*time.Hour)
	if err != nil {
		tb.Fatalf("IssueClient: %v", err)
	}
	return tlsCert(tb, der, key)
}

func nodeCert(tb testing.TB, ca *identity.CA, id string) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	der, err := ca.IssueNode(id, identity.LoopbackHosts(), key.Public(), testNow, 365*24*time.Hour)
	if err != nil {
		tb.Fatalf("IssueNode: %v", err)
	}
	return tlsCert(tb, der, key)
}
