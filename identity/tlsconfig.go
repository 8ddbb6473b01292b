package identity

import (
	"crypto/tls"
	"crypto/x509"
)

// apiCipherSuites are the TLS 1.2 suites the API listener offers: ECDHE
// key exchange and AEAD ciphers only. TLS 1.3 suites are not configurable.
func apiCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ServerTLSConfig returns the configuration of the API listener, which
// serves both the Connect API and the AWS-compatible (SigV4) endpoint.
//
// A client certificate is optional (VerifyClientCertIfGiven): a SigV4
// caller sends none, and the HTTP layer answers Unauthenticated on the
// Connect API when [PrincipalFromTLS] returns [ErrNoClientCert]. A
// certificate that is sent must chain to pool and have the ClientAuth
// usage, or the handshake fails; which principal it names, if any, is for
// [PrincipalFromTLS] to decide, so the config does not reject node
// certificates by itself.
//
// The minimum version is TLS 1.2, not 1.3, because the AWS endpoint must
// accept unmodified AWS SDKs, AWS itself requires only TLS 1.2, and
// platforms still in use (Windows Server 2019's SChannel, old Java 8
// builds) have no TLS 1.3. TLS 1.2 is limited to ECDHE key exchange with
// AEAD ciphers. Trent's own clients ([ClientTLSConfig]) insist on TLS 1.3,
// so their certificates (and thus principal ARNs) are never sent in clear.
//
// getCert supplies the server certificate, so that it can be reloaded
// without a restart; it must not be nil. ALPN offers h2 and http/1.1.
func ServerTLSConfig(pool *x509.CertPool, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   apiCipherSuites(),
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      pool,
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// ClientTLSConfig returns the configuration with which the CLI and other
// native clients dial a Trent API endpoint: TLS 1.3, presenting cert (none
// if cert is the zero value), and
// accepting only a server whose certificate chains to pool, matches the
// dialled host, and is a node certificate ([NodeIDFromCert]).
//
// ServerName is left empty so that crypto/tls and net/http fill it in from
// the dialled address; node certificates carry IP SANs, so endpoints such
// as https://127.0.0.1:8443 and https://localhost:8443 verify (see
// [LoopbackHosts]). Set ServerName on the returned config to reach a node
// through an address that is not in its certificate. NextProtos is left to
// the HTTP transport, which knows whether it speaks HTTP/2.
func ClientTLSConfig(pool *x509.CertPool, cert tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		RootCAs:          pool,
		VerifyConnection: requireNodePeer,
	}
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// NodeTLSConfigs returns the server and client configurations for
// node-to-node traffic (the raft transport and leader forwarding): TLS 1.3
// only, each side presenting cert, and each side accepting only a peer
// whose certificate chains to pool and is a node certificate
// ([NodeIDFromCert]); client certificates are refused during the
// handshake. The check runs in VerifyConnection, so it also applies to
// resumed sessions.
//
// The client side verifies the server's host name as usual, so a node's
// certificate must carry the host of its advertised address. The server
// side offers ALPN h2 and http/1.1; a caller multiplexing other protocols
// on the port appends theirs.
func NodeTLSConfigs(pool *x509.CertPool, cert tls.Certificate) (server, client *tls.Config) {
	server = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		NextProtos:       []string{"h2", "http/1.1"},
		VerifyConnection: requireNodePeer,
	}
	client = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		RootCAs:          pool,
		Certificates:     []tls.Certificate{cert},
		VerifyConnection: requireNodePeer,
	}
	return server, client
}

// requireNodePeer is a VerifyConnection callback that accepts only a peer
// whose verified leaf certificate is a node certificate.
func requireNodePeer(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return &CertError{Err: ErrNotNode, Reason: "peer certificate was not verified"}
	}
	_, err := NodeIDFromCert(cs.VerifiedChains[0][0])
	return err
}
