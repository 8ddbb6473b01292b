package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

func TestNewCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "prod-eu")
	c := ca.Certificate()
	switch {
	case !c.IsCA || !c.BasicConstraintsValid:
		t.Error("CA certificate is not a CA")
	case c.MaxPathLen != 0 || !c.MaxPathLenZero:
		t.Errorf("MaxPathLen = %d (zero %v), want 0", c.MaxPathLen, c.MaxPathLenZero)
	case c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		t.Errorf("KeyUsage = %v", c.KeyUsage)
	case c.PublicKeyAlgorithm != x509.ECDSA || c.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256():
		t.Errorf("CA key is not ECDSA P-256")
	case !c.NotAfter.Equal(testNow.Add(identity.CALifetime)):
		t.Errorf("NotAfter = %v, want now + 10 years", c.NotAfter)
	case c.NotBefore.After(testNow):
		t.Errorf("NotBefore = %v is after now", c.NotBefore)
	case c.Subject.CommonName != "prod-eu cluster CA":
		t.Errorf("CommonName = %q", c.Subject.CommonName)
	case c.SerialNumber.BitLen() > 128 || c.SerialNumber.Sign() <= 0:
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
}

func TestNewCARejectsBadClusterName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "cluster name is empty"},
		{"too_long", strings.Repeat("c", 49), "at most 48"},
		{"slash", "a/b", `contains "/"`},
		{"newline", "a\nb", `contains "\n"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := identity.NewCA(tt.in, nil, testNow)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewCA(%q) error = %v, want it to say %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestNewCARandFailure(t *testing.T) {
	t.Parallel()
	// Key generation ignores custom readers since Go 1.26, but the serial
	// number is read from rand, so an empty reader must fail cleanly.
	_, err := identity.NewCA("c", bytes.NewReader(nil), testNow)
	if err == nil {
		t.Fatal("NewCA with an empty rand succeeded")
	}
}

func TestCAPEMRoundTrip(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := identity.LoadCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !bytes.Equal(loaded.CertPEM(), ca.CertPEM()) {
		t.Error("CertPEM changed across the round trip")
	}
	keyPEM2, err := loaded.KeyPEM()
	if err != nil || !bytes.Equal(keyPEM2, keyPEM) {
		t.Errorf("KeyPEM changed across the round trip (err %v)", err)
	}
	// A certificate issued by the loaded CA verifies against the original.
	der, err := loaded.IssueClient(mustPrincipal(t, "arn:aws:iam::111122223333:user/bob"), newKey(t).Public(), testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCert(t, der).Verify(x509.VerifyOptions{
		Roots: ca.Pool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Errorf("certificate from loaded CA does not verify against the original: %v", err)
	}
	// CertPEM returns a copy.
	b := ca.CertPEM()
	b[0] = 'X'
	if ca.CertPEM()[0] == 'X' {
		t.Error("CertPEM exposes internal state")
	}
}

func TestLoadCAAcceptsSEC1Key(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := identity.ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(signer.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadCA(ca.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Errorf("LoadCA with an SEC 1 key: %v", err)
	}
}

func TestLoadCARejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	other := newTestCA(t, "c2")
	keyPEM, _ := ca.KeyPEM()
	otherKeyPEM, _ := other.KeyPEM()
	leaf := clientCert(t, ca, "arn:aws:iam::111122223333:user/bob")
	leafPEM := identity.EncodeCertPEM(leaf.Certificate[0])
	leafKeyPEM, _ := identity.EncodeKeyPEM(leaf.PrivateKey)
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		want            string
	}{
		{"wrong_key", ca.CertPEM(), otherKeyPEM, "CA key does not match the CA certificate"},
		{"leaf_not_ca", leafPEM, leafKeyPEM, "is not a CA"},
		{"empty_cert", nil, keyPEM, "no PEM block found"},
		{"key_as_cert", keyPEM, keyPEM, `PEM block is "PRIVATE KEY", want "CERTIFICATE"`},
		{"two_certs", append(ca.CertPEM(), other.CertPEM()...), keyPEM, "unexpected data after the certificate"},
		{"garbage_cert", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM, "parsing certificate"},
		{"empty_key", ca.CertPEM(), nil, "CA key: no PEM block found"},
		{"encrypted_key", ca.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted private keys are not supported"},
		{"cert_as_key", ca.CertPEM(), ca.CertPEM(), `PEM block is "CERTIFICATE", want "PRIVATE KEY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := identity.LoadCA(tt.certPEM, tt.keyPEM)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadCA error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestLoadCARejectsNonSelfSigned(t *testing.T) {
	t.Parallel()
	// An intermediate CA certificate, signed by another CA: LoadCA wants a root.
	root := newTestCA(t, "root")
	rootKeyPEM, _ := root.KeyPEM()
	rootKey, err := identity.ParseKeyPEM(rootKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "intermediate"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Certificate(), key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := identity.EncodeKeyPEM(key)
	_, err = identity.LoadCA(identity.EncodeCertPEM(der), keyPEM)
	if err == nil || !strings.Contains(err.Error(), "not a self-signed root") {
		t.Errorf("LoadCA(intermediate) error = %v", err)
	}
}

func TestIssueClient(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	for _, arn := range []string{
		"arn:aws:iam::111122223333:root",
		"arn:aws:iam::111122223333:user/bob",
		"arn:aws:iam::111122223333:user/division/team/a+b=c,d.e@f_g-h",
		"arn:aws:iam::444455556666:role/service-role/KeyAdmin",
	} {
		t.Run(strings.NewReplacer(":", "_", "/", "_").Replace(arn), func(t *testing.T) {
			t.Parallel()
			p := mustPrincipal(t, arn)
			der, err := ca.IssueClient(p, newKey(t).Public(), testNow, 24*time.Hour)
			if err != nil {
				t.Fatalf("IssueClient: %v", err)
			}
			c := parseCert(t, der)
			if _, err := c.Verify(x509.VerifyOptions{
				Roots: ca.Pool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got, err := identity.PrincipalFromCert(c)
			if err != nil {
				t.Fatalf("PrincipalFromCert: %v", err)
			}
			if got != p {
				t.Errorf("PrincipalFromCert = %+v, want %+v", got, p)
			}
			switch {
			case len(c.URIs) != 1 || c.URIs[0].String() != arn:
				t.Errorf("URIs = %v, want exactly [%s]", c.URIs, arn)
			case len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses) != 0:
				t.Errorf("client certificate has extra SANs")
			case len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth:
				t.Errorf("ExtKeyUsage = %v, want [ClientAuth]", c.ExtKeyUsage)
			case c.IsCA:
				t.Error("client certificate is a CA")
			case c.KeyUsage != x509.KeyUsageDigitalSignature:
				t.Errorf("KeyUsage = %v", c.KeyUsage)
			case !c.NotAfter.Equal(testNow.Add(24 * time.Hour)):
				t.Errorf("NotAfter = %v", c.NotAfter)
			case c.SerialNumber.BitLen() > 128 || c.SerialNumber.Sign() <= 0:
				t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
			}
			if _, err := identity.NodeIDFromCert(c); !errors.Is(err, identity.ErrNotNode) {
				t.Errorf("NodeIDFromCert(client cert) error = %v, want ErrNotNode", err)
			}
		})
	}
}

func TestIssueClientRejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	bob := mustPrincipal(t, "arn:aws:iam::111122223333:user/bob")
	node, _ := identity.NodePrincipal("n1")
	forged := bob
	forged.Kind = identity.KindRole
	// Go refuses to generate 1024-bit RSA keys; a public key is enough here.
	smallRSA := &rsa.PublicKey{N: new(big.Int).SetBit(big.NewInt(1), 1023, 1), E: 65537}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    identity.Principal
		pub  any
		now  time.Time
		ttl  time.Duration
		want string
	}{
		{"zero_principal", identity.Principal{}, newKey(t).Public(), testNow, time.Hour, "ARN is empty"},
		{"node_principal", node, newKey(t).Public(), testNow, time.Hour, "use IssueNode"},
		{"fields_disagree", forged, newKey(t).Public(), testNow, time.Hour, "principal fields do not match"},
		{"invalid_arn", identity.RootPrincipal("123"), newKey(t).Public(), testNow, time.Hour, "exactly 12 digits"},
		{"zero_ttl", bob, newKey(t).Public(), testNow, 0, "lifetime must be positive"},
		{"outlives_ca", bob, newKey(t).Public(), testNow, identity.CALifetime + time.Second, "after the CA expires"},
		{"before_ca", bob, newKey(t).Public(), testNow.Add(-time.Hour), time.Hour, "CA certificate is not valid at"},
		{"after_ca", bob, newKey(t).Public(), testNow.Add(identity.CALifetime + time.Hour), time.Hour, "CA certificate is not valid at"},
		{"no_key", bob, nil, testNow, time.Hour, "public key is missing"},
		{"small_rsa", bob, smallRSA, testNow, time.Hour, "RSA key of 1024 bits is too small"},
		{"p224", bob, p224.Public(), testNow, time.Hour, "P-224 is not allowed"},
		{"private_key", bob, newKey(t), testNow, time.Hour, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ca.IssueClient(tt.p, tt.pub, tt.now, tt.ttl)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("IssueClient error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestIssueClientOtherKeyTypes(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]any{"ed25519": edPub, "p384": p384.Public()} {
		if _, err := ca.IssueClient(mustPrincipal(t, "arn:aws:iam::111122223333:user/bob"), pub, testNow, time.Hour); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIssueNode(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	hosts := append(identity.LoopbackHosts(), "node1.trent.internal", "10.0.0.5", "localhost")
	der, err := ca.IssueNode("node1", hosts, newKey(t).Public(), testNow, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, der)
	id, err := identity.NodeIDFromCert(c)
	if err != nil || id != "node1" {
		t.Fatalf("NodeIDFromCert = %q, %v", id, err)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "trent://node/node1" || identity.NodeURI("node1") != "trent://node/node1" {
		t.Errorf("URIs = %v", c.URIs)
	}
	if got := strings.Join(c.DNSNames, ","); got != "localhost,node1.trent.internal" {
		t.Errorf("DNSNames = %q (duplicates should be dropped)", got)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); got != "127.0.0.1,::1,10.0.0.5" {
		t.Errorf("IPAddresses = %q", got)
	}
	if len(c.ExtKeyUsage) != 2 {
		t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "node1.trent.internal"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, DNSName: host}); err != nil {
			t.Errorf("Verify for host %q: %v", host, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, DNSName: "10.0.0.6"}); err == nil {
		t.Error("node certificate verified for a host it does not name")
	}
	// A node certificate is never a principal.
	if _, err := identity.PrincipalFromCert(c); !errors.Is(err, identity.ErrNotPrincipal) {
		t.Errorf("PrincipalFromCert(node cert) error = %v, want ErrNotPrincipal", err)
	}
}

func TestIssueNodeRejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	tests := []struct {
		name  string
		id    string
		hosts []string
		want  string
	}{
		{"empty_id", "", nil, "node ID is empty"},
		{"bad_id", "node/1", nil, `node ID "node/1" contains "/"`},
		{"id_starts_with_dot", ".n", nil, "must start with a letter or digit"},
		{"empty_host", "n1", []string{""}, "host name is empty"},
		{"wildcard_host", "n1", []string{"*.example.com"}, "neither an IP address nor a valid DNS name"},
		{"host_with_port", "n1", []string{"localhost:8443"}, "neither an IP address nor a valid DNS name"},
		{"host_trailing_dot", "n1", []string{"example.com."}, "neither an IP address nor a valid DNS name"},
		{"host_hyphen_label", "n1", []string{"-a.example.com"}, "neither an IP address nor a valid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ca.IssueNode(tt.id, tt.hosts, newKey(t).Public(), testNow, time.Hour)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("IssueNode error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestSignCSR(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	key := newKey(t)
	// The request asks for an admin identity; SignCSR must ignore that.
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "admin"},
		DNSNames:    []string{"evil.example"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		URIs:        []*url.URL{{Scheme: "arn", Opaque: "aws:iam::111122223333:root"}, {Scheme: "trent", Host: "node", Path: "/n1"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	bob := mustPrincipal(t, "arn:aws:iam::111122223333:user/bob")
	der, err := ca.SignCSR(csrDER, bob, testNow, time.Hour)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	c := parseCert(t, der)
	if got, err := identity.PrincipalFromCert(c); err != nil || got != bob {
		t.Errorf("PrincipalFromCert = %+v, %v; want bob", got, err)
	}
	if len(c.DNSNames) != 0 || len(c.IPAddresses) != 0 || len(c.URIs) != 1 || c.Subject.CommonName != "bob" {
		t.Errorf("requested names leaked into the certificate: %v %v %v %q", c.DNSNames, c.IPAddresses, c.URIs, c.Subject.CommonName)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("certificate is not for the request's key")
	}

	t.Run("bad_signature", func(t *testing.T) {
		t.Parallel()
		tampered := bytes.Clone(csrDER)
		tampered[len(tampered)-3] ^= 0xff
		if _, err := ca.SignCSR(tampered, bob, testNow, time.Hour); !errors.Is(err, identity.ErrCSRSignature) && !errors.Is(err, identity.ErrMalformedCSR) {
			t.Errorf("SignCSR(tampered) error = %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		if _, err := ca.SignCSR([]byte("nope"), bob, testNow, time.Hour); !errors.Is(err, identity.ErrMalformedCSR) {
			t.Errorf("SignCSR(garbage) error = %v", err)
		}
	})
}

func TestSignCSRRejectsForgedSignature(t *testing.T) {
	t.Parallel()
	// A request for key A signed by key B: the signature cannot verify.
	ca := newTestCA(t, "c1")
	a, b := newKey(t), newKey(t)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, b)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	// Swap in A's public key by re-encoding the SubjectPublicKeyInfo.
	spkiA, _ := x509.MarshalPKIXPublicKey(a.Public())
	spkiB, _ := x509.MarshalPKIXPublicKey(b.Public())
	forged := bytes.Replace(csrDER, spkiB, spkiA, 1)
	if bytes.Equal(forged, csrDER) || csr == nil {
		t.Fatal("could not forge the request")
	}
	_, err = ca.SignCSR(forged, mustPrincipal(t, "arn:aws:iam::111122223333:user/bob"), testNow, time.Hour)
	if !errors.Is(err, identity.ErrCSRSignature) {
		t.Errorf("SignCSR(forged) error = %v, want ErrCSRSignature", err)
	}
}

func TestVerificationFailures(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	other := newTestCA(t, "c2")
	bob := mustPrincipal(t, "arn:aws:iam::111122223333:user/bob")
	der, err := ca.IssueClient(bob, newKey(t).Public(), testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, der)
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name string
		opts x509.VerifyOptions
		want x509.InvalidReason
	}{
		{"expired", x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow.Add(time.Hour + time.Second), KeyUsages: usages}, x509.Expired},
		{"not_yet_valid", x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow.Add(-6 * time.Minute), KeyUsages: usages}, x509.Expired},
		{"server_usage", x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow}, x509.IncompatibleUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Verify(tt.opts)
			var inv x509.CertificateInvalidError
			if !errors.As(err, &inv) || inv.Reason != tt.want {
				t.Errorf("Verify error = %v, want reason %v", err, tt.want)
			}
		})
	}
	t.Run("within_clock_skew", func(t *testing.T) {
		t.Parallel()
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow.Add(-4 * time.Minute), KeyUsages: usages}); err != nil {
			t.Errorf("certificate not valid 4 minutes before issue: %v", err)
		}
	})
	t.Run("other_ca", func(t *testing.T) {
		t.Parallel()
		_, err := c.Verify(x509.VerifyOptions{Roots: other.Pool(), CurrentTime: testNow, KeyUsages: usages})
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("Verify against another CA: error = %v, want UnknownAuthorityError", err)
		}
	})
}
