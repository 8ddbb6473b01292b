package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// Certificate lifetimes and clock tolerance.
const (
	// CALifetime is how long a CA made by [NewCA] is valid.
	CALifetime = 10 * 365 * 24 * time.Hour
	// clockSkew is how far before "now" certificates become valid, so that
	// a certificate issued on one node is accepted at once by a node whose
	// clock is a little behind.
	clockSkew = 5 * time.Minute
	// maxClusterNameLen keeps the CA's common name within 64 bytes.
	maxClusterNameLen = 48
)

// A CA is the cluster certificate authority: a self-signed root that
// issues node and client certificates. There is no intermediate; the root
// signs leaves directly (MaxPathLen 0).
//
// The CA carries no URI or DNS name constraints: Go's verifier cannot match
// a URI constraint against host-less URIs such as principal ARNs, so the
// identity rules live in [PrincipalFromCert] and [NodeIDFromCert] instead.
//
// A CA is immutable and safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	signer  crypto.Signer
}

// NewCA creates a cluster CA with a new ECDSA P-256 key: a self-signed root
// for clusterName, valid for [CALifetime] from now (backdated a few minutes
// for clock skew), with IsCA set and MaxPathLen 0.
//
// rand supplies the CA's serial number; nil means crypto/rand.Reader. Since
// Go 1.26 the standard library ignores custom randomness for key
// generation and signing (GODEBUG cryptocustomrand), so passing a fixed
// reader does not make the CA reproducible.
//
// clusterName appears in the CA's subject: 1 to 48 letters, digits, spaces
// and ._-.
func NewCA(clusterName string, rand io.Reader, now time.Time) (*CA, error) {
	if err := checkClusterName(clusterName); err != nil {
		return nil, err
	}
	if rand == nil {
		rand = cryptoRand()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"Trent"},
			CommonName:   clusterName + " cluster CA",
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: EncodeCertPEM(der), signer: key}, nil
}

func checkClusterName(name string) error {
	switch {
	case name == "":
		return errors.New("cluster name is empty")
	case len(name) > maxClusterNameLen:
		return fmt.Errorf("cluster name is %d bytes long; at most %d are allowed", len(name), maxClusterNameLen)
	}
	if c, bad := firstInvalid(name, func(c byte) bool {
		return isAlnum(c) || c == ' ' || c == '.' || c == '_' || c == '-'
	}); bad {
		return fmt.Errorf("cluster name %q contains %q; allowed are letters, digits, spaces and ._-", name, c)
	}
	return nil
}

// LoadCA loads a CA from its PEM certificate and PEM private key (PKCS #8
// "PRIVATE KEY", or SEC 1 "EC PRIVATE KEY"), as written by [CA.CertPEM] and
// [CA.KeyPEM]. The certificate must be a self-signed CA certificate
// allowed to sign certificates, and the key must match it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, errors.New("CA certificate is not a CA (basic constraints missing or IsCA false)")
	case cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, errors.New("CA certificate lacks the certSign key usage")
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("CA certificate is not a self-signed root: %v", err)
	}
	signer, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{cert: cert, certPEM: EncodeCertPEM(cert.Raw), signer: signer}, nil
}

// Certificate returns the CA certificate. It is shared: do not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM form, for ca.pem.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM returns the CA private key as a PKCS #8 "PRIVATE KEY" PEM block.
// Keep it offline: whoever holds it can mint any principal.
func (ca *CA) KeyPEM() ([]byte, error) { return EncodeKeyPEM(ca.signer) }

// Pool returns a new certificate pool holding only the CA certificate, for
// the RootCAs and ClientCAs of TLS configurations.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// IssueNode issues a certificate for cluster node nodeID and returns it in
// DER form. The certificate carries the URI SAN trent://node/<nodeID> (see
// [NodeURI]) and one DNS or IP SAN for each of hosts, has the ServerAuth and
// ClientAuth usages (a node both serves and dials), and is valid from now
// (less a few minutes for clock skew) for ttl. For a node to be dialled at
// an address, that address's host must be in hosts; development nodes
// want [LoopbackHosts].
func (ca *CA) IssueNode(nodeID string, hosts []string, pub crypto.PublicKey, now time.Time, ttl time.Duration) ([]byte, error) {
	if err := checkNodeID(nodeID); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeID},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{nodeURL(nodeID)},
	}
	seen := make(map[string]bool)
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		if err := checkDNSName(h); err != nil {
			return nil, err
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	return ca.issue(tmpl, pub, now, ttl)
}

// LoopbackHosts returns the hosts a development node certificate needs so
// that clients can reach it at localhost, 127.0.0.1 or [::1].
func LoopbackHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// IssueClient issues a client certificate for principal p and returns it
// in DER form. Its only SAN is one URI SAN, p.ARN; its only extended key
// usage is ClientAuth. A user or role should have its unique id in p.ID:
// the subject then carries it as a uid attribute, and
// [PrincipalFromCert] returns it. p must be a root, user or role principal as
// returned by [ParsePrincipal]; node principals get node certificates from
// [CA.IssueNode] instead.
func (ca *CA) IssueClient(p Principal, pub crypto.PublicKey, now time.Time, ttl time.Duration) ([]byte, error) {
	if p.Kind == KindNode {
		return nil, errors.New("cannot issue a client certificate to a node principal; use IssueNode")
	}
	parsed, err := ParsePrincipal(p.ARN)
	if err != nil {
		return nil, err
	}
	if p.ID != "" && !ValidPrincipalID(p.Kind, p.ID) {
		return nil, fmt.Errorf("%q is not the unique id of a %s", p.ID, p.Kind)
	}
	if parsed.ID = p.ID; parsed != p {
		return nil, fmt.Errorf("principal fields do not match its ARN %q; build principals with ParsePrincipal or RootPrincipal", p.ARN)
	}
	u, err := url.Parse(p.ARN)
	if err != nil || u.String() != p.ARN {
		return nil, fmt.Errorf("principal ARN %q cannot be carried in a URI SAN", p.ARN)
	}
	cn := p.Name
	if p.IsRoot() {
		cn = p.Account
	}
	subject := pkix.Name{CommonName: cn}
	if p.ID != "" {
		subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: uidOID(), Value: p.ID}}
	}
	tmpl := &x509.Certificate{
		Subject:     subject,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
	}
	return ca.issue(tmpl, pub, now, ttl)
}

// SignCSR issues a client certificate for p (as [CA.IssueClient] does) to
// the public key of the PKCS #10 request csrDER, after checking the
// request's self-signature. Everything else the request asks for
// (subject, SANs, extensions) is ignored: the caller decides who p is.
// A request that cannot be parsed or whose signature does not verify is
// refused with an error matching [ErrMalformedCSR] or [ErrCSRSignature].
func (ca *CA) SignCSR(csrDER []byte, p Principal, now time.Time, ttl time.Duration) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, mark(ErrMalformedCSR, fmt.Errorf("parsing certificate request: %w", err))
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, mark(ErrCSRSignature, fmt.Errorf("certificate request signature is invalid: %w", err))
	}
	return ca.IssueClient(p, csr.PublicKey, now, ttl)
}

// issue completes tmpl as a leaf valid from now for ttl and signs it.
func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey, now time.Time, ttl time.Duration) ([]byte, error) {
	if err := checkLeafKey(pub); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("certificate lifetime must be positive, got %v", ttl)
	}
	if now.Before(ca.cert.NotBefore) || now.After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate is not valid at %s (valid %s to %s)",
			now.UTC().Format(time.RFC3339), ca.cert.NotBefore.UTC().Format(time.RFC3339), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(ttl)
	if notAfter.After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("certificate would expire at %s, after the CA expires at %s; use a shorter lifetime or a new CA",
			notAfter.UTC().Format(time.RFC3339), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	notBefore := now.Add(-clockSkew)
	if notBefore.Before(ca.cert.NotBefore) {
		notBefore = ca.cert.NotBefore
	}
	serial, err := newSerial(cryptoRand())
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = notBefore
	tmpl.NotAfter = notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(cryptoRand(), tmpl, ca.cert, pub, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	return der, nil
}

// cryptoRand returns the system's secure random source. It is a function,
// not a package variable, so that the package keeps no mutable globals.
func cryptoRand() io.Reader { return rand.Reader }

// newSerial returns a random, non-zero 128-bit serial number.
func newSerial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("reading random serial number: %w", err)
		}
		if s := new(big.Int).SetBytes(b[:]); s.Sign() > 0 {
			return s, nil
		}
	}
}

// checkLeafKey accepts the public keys Trent certifies: ECDSA P-256 or
// P-384, Ed25519, and RSA of at least 2048 bits.
func checkLeafKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA key on curve %s is not allowed; use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 public key")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small; at least 2048 are required", k.N.BitLen())
		}
	case nil:
		return errors.New("public key is missing")
	default:
		return fmt.Errorf("public key type %T is not supported; use ECDSA, Ed25519 or RSA", pub)
	}
	return nil
}

// checkDNSName accepts a host name for a DNS SAN: dot-separated labels of
// letters, digits and hyphens, at most 253 bytes. Wildcards are refused.
func checkDNSName(h string) error {
	if h == "" {
		return errors.New("host name is empty")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name %q is longer than 253 bytes", elide(h, 64))
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is neither an IP address nor a valid DNS name", h)
		}
		if _, bad := firstInvalid(label, func(c byte) bool { return isAlnum(c) || c == '-' }); bad {
			return fmt.Errorf("host %q is neither an IP address nor a valid DNS name", h)
		}
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// NewKeyPair returns a new ECDSA P-256 private key for a node or client
// certificate.
func NewKeyPair() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), cryptoRand())
}

// EncodeCertPEM returns the DER certificate der as a "CERTIFICATE" PEM block.
func EncodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// EncodeKeyPEM returns key as a PKCS #8 "PRIVATE KEY" PEM block. It fails
// for keys that cannot be exported, such as HSM-backed signers.
func EncodeKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertPEM parses data holding exactly one "CERTIFICATE" PEM block.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block found")
	case block.Type != "CERTIFICATE":
		return nil, fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
	case len(strings.TrimSpace(string(rest))) != 0:
		return nil, errors.New("unexpected data after the certificate PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return cert, nil
}

// ParseCertsPEM parses data holding one or more "CERTIFICATE" PEM blocks
// and nothing else (a CA bundle).
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; len(strings.TrimSpace(string(rest))) != 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil:
			return nil, errors.New("unexpected data between or after the certificate PEM blocks")
		case block.Type != "CERTIFICATE":
			return nil, fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return out, nil
}

// ParseKeyPEM parses a private key from one PEM block: PKCS #8 "PRIVATE
// KEY" (ECDSA, Ed25519 or RSA) or SEC 1 "EC PRIVATE KEY". Encrypted keys are
// not supported.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("unexpected data after the private key PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted private keys are not supported")
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" or \"EC PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key type %T cannot sign", key)
	}
	return signer, nil
}
