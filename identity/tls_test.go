package identity_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

// handshakeResult is what each side of a loopback TLS connection saw.
type handshakeResult struct {
	server    tls.ConnectionState
	serverErr error
	client    tls.ConnectionState
	clientErr error
}

// fixedTime makes both configs use the test clock, so certificates issued
// at testNow are valid without sleeps or wall-clock dependence.
func fixedTime(at time.Time, cfgs ...*tls.Config) {
	for _, c := range cfgs {
		c.Time = func() time.Time { return at }
	}
}

// handshake runs one TLS connection over real loopback TCP: the server
// handshakes with serverCfg and, on success, writes one byte; the client
// dials host (a name or IP) with clientCfg, which leaves ServerName to
// crypto/tls, and reads that byte. In TLS 1.3 the server rejects a client
// certificate after the client's handshake returns, so the client's error
// is the first of its handshake and its read.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config, host string) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)

	var res handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, serverCfg)
		if res.serverErr = tc.HandshakeContext(ctx); res.serverErr != nil {
			return
		}
		res.server = tc.ConnectionState()
		_, res.serverErr = tc.Write([]byte{1})
	}()

	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	d := &tls.Dialer{Config: clientCfg}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		res.clientErr = err
	} else {
		tc := conn.(*tls.Conn)
		res.client = tc.ConnectionState()
		var b [1]byte
		_, res.clientErr = tc.Read(b[:])
		conn.Close()
	}
	<-done
	return res
}

func TestAPIServerSeesPrincipal(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	srv := nodeCert(t, ca, "n1")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			serverCfg := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &srv, nil })
			clientCfg := identity.ClientTLSConfig(ca.Pool(), clientCert(t, ca, "arn:aws:iam::111122223333:role/app"))
			fixedTime(testNow, serverCfg, clientCfg)
			res := handshake(t, serverCfg, clientCfg, host)
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
			}
			p, err := identity.PrincipalFromTLS(&res.server)
			if err != nil {
				t.Fatalf("PrincipalFromTLS: %v", err)
			}
			if p.ARN != "arn:aws:iam::111122223333:role/app" || p.Kind != identity.KindRole {
				t.Errorf("server saw principal %+v", p)
			}
			if res.server.Version != tls.VersionTLS13 {
				t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(res.server.Version))
			}
		})
	}
}

func TestAPIServerWithoutClientCert(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	srv := nodeCert(t, ca, "n1")
	serverCfg := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &srv, nil })
	clientCfg := identity.ClientTLSConfig(ca.Pool(), tls.Certificate{})
	fixedTime(testNow, serverCfg, clientCfg)
	res := handshake(t, serverCfg, clientCfg, "127.0.0.1")
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
	}
	if len(res.server.PeerCertificates) != 0 {
		t.Errorf("server saw %d peer certificates, want none", len(res.server.PeerCertificates))
	}
	if _, err := identity.PrincipalFromTLS(&res.server); !errors.Is(err, identity.ErrNoClientCert) {
		t.Errorf("PrincipalFromTLS error = %v, want ErrNoClientCert", err)
	}
}

// TestAPIServerAcceptsTLS12SDK stands for an AWS SDK on a platform without
// TLS 1.3: it trusts the cluster CA, sends no client certificate, and
// negotiates TLS 1.2 with an AEAD suite.
func TestAPIServerAcceptsTLS12SDK(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	srv := nodeCert(t, ca, "n1")
	serverCfg := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &srv, nil })
	clientCfg := &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}
	fixedTime(testNow, serverCfg, clientCfg)
	res := handshake(t, serverCfg, clientCfg, "127.0.0.1")
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
	}
	if res.client.Version != tls.VersionTLS12 || res.client.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 &&
		res.client.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 && res.client.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Errorf("negotiated %s %s", tls.VersionName(res.client.Version), tls.CipherSuiteName(res.client.CipherSuite))
	}
}

func TestHandshakeFailures(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	other := newTestCA(t, "c2")
	srv := nodeCert(t, ca, "n1")
	otherSrv := nodeCert(t, other, "n1")
	bob := clientCert(t, ca, "arn:aws:iam::111122223333:user/bob")
	strangerBob := clientCert(t, other, "arn:aws:iam::111122223333:user/bob")
	apiServer := func(cert *tls.Certificate) *tls.Config {
		return identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	}
	nodeServer, _ := identity.NodeTLSConfigs(ca.Pool(), srv)
	_, nodeClientWithBob := identity.NodeTLSConfigs(ca.Pool(), bob)

	tests := []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		at         time.Time
		wantServer func(error) bool // nil: server must fail with any error
	}{
		{
			name:       "client_cert_on_node_port",
			server:     nodeServer,
			client:     identity.ClientTLSConfig(ca.Pool(), bob),
			at:         testNow,
			wantServer: func(err error) bool { return errors.Is(err, identity.ErrNotNode) },
		},
		{
			name:       "client_cert_with_node_client_config",
			server:     nodeServer,
			client:     nodeClientWithBob,
			at:         testNow,
			wantServer: func(err error) bool { return errors.Is(err, identity.ErrNotNode) },
		},
		{
			name:       "node_port_without_client_cert",
			server:     nodeServer,
			client:     identity.ClientTLSConfig(ca.Pool(), tls.Certificate{}),
			at:         testNow,
			wantServer: nil,
		},
		{
			name:   "client_cert_from_other_ca",
			server: apiServer(&srv),
			// Go clients send only certificates the server's CA list accepts;
			// an attacker sends it anyway.
			client: func() *tls.Config {
				c := identity.ClientTLSConfig(ca.Pool(), tls.Certificate{})
				c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strangerBob, nil }
				return c
			}(),
			at: testNow,
			wantServer: func(err error) bool {
				var cve *tls.CertificateVerificationError
				var unknown x509.UnknownAuthorityError
				return errors.As(err, &cve) && errors.As(err, &unknown)
			},
		},
		{
			name:   "expired_client_cert",
			server: apiServer(&srv),
			client: identity.ClientTLSConfig(ca.Pool(), bob),
			at:     testNow.Add(24*time.Hour + time.Second),
			wantServer: func(err error) bool {
				var inv x509.CertificateInvalidError
				return errors.As(err, &inv) && inv.Reason == x509.Expired
			},
		},
		{
			name:   "server_cert_from_other_ca",
			server: apiServer(&otherSrv),
			client: identity.ClientTLSConfig(ca.Pool(), bob),
			at:     testNow,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server, client := tt.server.Clone(), tt.client.Clone()
			fixedTime(tt.at, server, client)
			res := handshake(t, server, client, "127.0.0.1")
			if res.serverErr == nil {
				t.Errorf("server accepted the connection (peer %d certs)", len(res.server.PeerCertificates))
			} else if tt.wantServer != nil && !tt.wantServer(res.serverErr) {
				t.Errorf("server error = %v", res.serverErr)
			}
			if res.clientErr == nil {
				t.Error("client saw no error")
			}
		})
	}
}

func TestClientRefusesNonNodeServer(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	key := newKey(t)
	// A server certificate that chains to the cluster CA and names the host
	// but carries no node URI.
	keyPEM, _ := ca.KeyPEM()
	signer, err := identity.ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Certificate(), key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	plain := tlsCert(t, der, key)
	for _, tt := range []struct {
		name   string
		client *tls.Config
	}{
		{"api_client", identity.ClientTLSConfig(ca.Pool(), tls.Certificate{})},
		{"node_client", func() *tls.Config { _, c := identity.NodeTLSConfigs(ca.Pool(), nodeCert(t, ca, "n2")); return c }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &plain, nil })
			client := tt.client.Clone()
			fixedTime(testNow, server, client)
			res := handshake(t, server, client, "127.0.0.1")
			if !errors.Is(res.clientErr, identity.ErrNotNode) {
				t.Errorf("client error = %v, want ErrNotNode", res.clientErr)
			}
		})
	}
}

func TestNodeToNode(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	server, _ := identity.NodeTLSConfigs(ca.Pool(), nodeCert(t, ca, "n1"))
	_, client := identity.NodeTLSConfigs(ca.Pool(), nodeCert(t, ca, "n2"))
	fixedTime(testNow, server, client)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			res := handshake(t, server, client, host)
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
			}
			if id, err := identity.NodeIDFromCert(res.server.VerifiedChains[0][0]); err != nil || id != "n2" {
				t.Errorf("server sees node %q, %v; want n2", id, err)
			}
			if id, err := identity.NodeIDFromCert(res.client.VerifiedChains[0][0]); err != nil || id != "n1" {
				t.Errorf("client sees node %q, %v; want n1", id, err)
			}
			if res.server.Version != tls.VersionTLS13 {
				t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(res.server.Version))
			}
		})
	}
}

func TestTLSConfigSettings(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	cert := nodeCert(t, ca, "n1")
	api := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	if api.ClientAuth != tls.VerifyClientCertIfGiven || api.MinVersion != tls.VersionTLS12 ||
		len(api.NextProtos) != 2 || api.NextProtos[0] != "h2" || api.NextProtos[1] != "http/1.1" {
		t.Errorf("ServerTLSConfig = ClientAuth %v, MinVersion %x, NextProtos %v", api.ClientAuth, api.MinVersion, api.NextProtos)
	}
	server, client := identity.NodeTLSConfigs(ca.Pool(), cert)
	if server.ClientAuth != tls.RequireAndVerifyClientCert || server.MinVersion != tls.VersionTLS13 || client.MinVersion != tls.VersionTLS13 {
		t.Errorf("NodeTLSConfigs: ClientAuth %v, MinVersion %x/%x", server.ClientAuth, server.MinVersion, client.MinVersion)
	}
	if c := identity.ClientTLSConfig(ca.Pool(), cert); c.MinVersion != tls.VersionTLS13 || c.ServerName != "" || len(c.Certificates) != 1 {
		t.Errorf("ClientTLSConfig: MinVersion %x, ServerName %q, %d certs", c.MinVersion, c.ServerName, len(c.Certificates))
	}
}

// TestResumedSessionKeepsIdentity checks that a TLS 1.3 session resumed
// from a ticket still carries the verified client chain (so the API sees
// the principal) and still runs the node-only check.
func TestResumedSessionKeepsIdentity(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	srv := nodeCert(t, ca, "n1")

	t.Run("api", func(t *testing.T) {
		t.Parallel()
		server := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &srv, nil })
		client := identity.ClientTLSConfig(ca.Pool(), clientCert(t, ca, "arn:aws:iam::111122223333:user/bob"))
		client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		fixedTime(testNow, server, client)
		for i, wantResume := range []bool{false, true} {
			res := handshake(t, server, client, "127.0.0.1")
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("connection %d: server %v, client %v", i, res.serverErr, res.clientErr)
			}
			if res.server.DidResume != wantResume {
				t.Fatalf("connection %d: DidResume = %v, want %v", i, res.server.DidResume, wantResume)
			}
			if p, err := identity.PrincipalFromTLS(&res.server); err != nil || p.Name != "bob" {
				t.Errorf("connection %d: PrincipalFromTLS = %+v, %v", i, p, err)
			}
		}
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		server, _ := identity.NodeTLSConfigs(ca.Pool(), srv)
		_, client := identity.NodeTLSConfigs(ca.Pool(), nodeCert(t, ca, "n2"))
		client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		fixedTime(testNow, server, client)
		for i, wantResume := range []bool{false, true} {
			res := handshake(t, server, client, "127.0.0.1")
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("connection %d: server %v, client %v", i, res.serverErr, res.clientErr)
			}
			if res.server.DidResume != wantResume {
				t.Fatalf("connection %d: DidResume = %v, want %v", i, res.server.DidResume, wantResume)
			}
			if id, err := identity.NodeIDFromCert(res.server.VerifiedChains[0][0]); err != nil || id != "n2" {
				t.Errorf("connection %d: server sees node %q, %v", i, id, err)
			}
		}
	})
}

// TestResumptionAfterClientCertExpiry checks that a session ticket does not
// outlive the client certificate it was issued for.
func TestResumptionAfterClientCertExpiry(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	srv := nodeCert(t, ca, "n1")
	server := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &srv, nil })
	client := identity.ClientTLSConfig(ca.Pool(), clientCert(t, ca, "arn:aws:iam::111122223333:user/bob")) // valid 24h
	client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	fixedTime(testNow, server, client)
	if res := handshake(t, server, client, "127.0.0.1"); res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("first connection: server %v, client %v", res.serverErr, res.clientErr)
	}
	fixedTime(testNow.Add(25*time.Hour), server, client)
	res := handshake(t, server, client, "127.0.0.1")
	if res.serverErr == nil {
		t.Fatalf("server accepted an expired client certificate (resumed %v)", res.server.DidResume)
	}
}
