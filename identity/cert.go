package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net/url"
	"slices"
)

// uidOID is the LDAP "uid" attribute type (RFC 4519), in which a client
// certificate's subject carries the unique id of the user or role it
// names (see [Principal.ID]). A subject attribute, not a second URI SAN,
// so that nodes that predate ids still accept the certificate during a
// rolling upgrade (they require exactly one URI SAN), and so that
// `openssl x509 -subject` shows it: "CN=bob, UID=AIDA...".
// It is a function so that the package keeps no mutable globals.
func uidOID() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1} }

// maxNodeIDLen bounds node IDs (raft server IDs).
const maxNodeIDLen = 128

// NodeURI returns the URI that names cluster node nodeID in its
// certificate: trent://node/<nodeID>.
func NodeURI(nodeID string) string { return nodeURL(nodeID).String() }

func nodeURL(nodeID string) *url.URL {
	return &url.URL{Scheme: "trent", Host: "node", Path: "/" + nodeID}
}

// ValidNodeID reports whether s can be a node ID: 1 to 128 letters,
// digits and ._-, starting with a letter or digit.
func ValidNodeID(s string) bool { return checkNodeID(s) == nil }

func checkNodeID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("node ID is empty")
	case len(s) > maxNodeIDLen:
		return fmt.Errorf("node ID is %d bytes long; at most %d are allowed", len(s), maxNodeIDLen)
	case !isAlnum(s[0]):
		return fmt.Errorf("node ID %q must start with a letter or digit", s)
	}
	if c, bad := firstInvalid(s, func(c byte) bool {
		return isAlnum(c) || c == '.' || c == '_' || c == '-'
	}); bad {
		return fmt.Errorf("node ID %q contains %q; allowed are letters, digits and ._-", s, c)
	}
	return nil
}

// PrincipalFromCert returns the principal that a client certificate names.
// The certificate must have the ClientAuth extended key usage and not
// ServerAuth (certificates that can serve are node certificates), must not
// be a CA, and must carry exactly one URI SAN, a canonical IAM principal
// ARN (see [ParsePrincipal]). The subject of a user's or role's
// certificate may carry the principal's unique id in one uid attribute
// (see [Principal.ID]); it must then be an id of that kind of principal
// ([ValidPrincipalID]), and a root certificate must carry none. Node
// certificates are never principals. Errors are a [*CertError] matching
// [ErrNotPrincipal].
//
// PrincipalFromCert does not verify the certificate: pass it only
// certificates that the TLS stack verified against the cluster CA, such as
// VerifiedChains[0][0]. [PrincipalFromTLS] does that.
func PrincipalFromCert(cert *x509.Certificate) (Principal, error) {
	fail := func(format string, args ...any) (Principal, error) {
		return Principal{}, &CertError{Err: ErrNotPrincipal, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case cert == nil:
		return fail("no certificate")
	case cert.IsCA:
		return fail("it is a CA certificate")
	case !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return fail("it lacks the ClientAuth extended key usage")
	case slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
		return fail("it has the ServerAuth extended key usage, so it is a server or node certificate")
	case len(cert.URIs) != 1:
		return fail("it has %d URI SANs; want exactly one, the principal ARN", len(cert.URIs))
	}
	s := cert.URIs[0].String()
	if cert.URIs[0].Scheme == "trent" {
		return fail("its URI SAN %q names a node, not a principal", elide(s, 160))
	}
	p, err := ParsePrincipal(s)
	if err != nil {
		return fail("%v", err)
	}
	var ids []string
	for _, a := range cert.Subject.Names {
		if !a.Type.Equal(uidOID()) {
			continue
		}
		id, _ := a.Value.(string) // x509 parses every attribute value to a string
		ids = append(ids, id)
	}
	switch {
	case len(ids) > 1:
		return fail("its subject has %d uid attributes; want at most one, the principal's unique id", len(ids))
	case len(ids) == 1 && !ValidPrincipalID(p.Kind, ids[0]):
		return fail("its subject uid %q is not the unique id of a %s", elide(ids[0], 64), p.Kind)
	case len(ids) == 1:
		p.ID = ids[0]
	}
	return p, nil
}

// NodeIDFromCert returns the node ID that a node certificate names. The
// certificate must have both the ServerAuth and ClientAuth extended key
// usages, must not be a CA, and must carry exactly one URI SAN of the form
// trent://node/<id> with a valid node ID (DNS and IP SANs may accompany
// it). Client certificates are never node certificates. Errors are a
// [*CertError] matching [ErrNotNode].
//
// Like [PrincipalFromCert], it does not verify the certificate.
func NodeIDFromCert(cert *x509.Certificate) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", &CertError{Err: ErrNotNode, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case cert == nil:
		return fail("no certificate")
	case cert.IsCA:
		return fail("it is a CA certificate")
	case !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return fail("it lacks the ServerAuth and ClientAuth extended key usages")
	case len(cert.URIs) != 1:
		return fail("it has %d URI SANs; want exactly one, trent://node/<id>", len(cert.URIs))
	}
	u := cert.URIs[0]
	if u.Scheme != "trent" || u.Host != "node" || len(u.Path) < 2 || u.Path[0] != '/' {
		return fail("its URI SAN %q is not trent://node/<id>", elide(u.String(), 160))
	}
	id := u.Path[1:]
	if err := checkNodeID(id); err != nil {
		return fail("%v", err)
	}
	if u.String() != NodeURI(id) {
		return fail("its URI SAN %q is not in canonical form %q", elide(u.String(), 160), NodeURI(id))
	}
	return id, nil
}

// PrincipalFromTLS returns the principal of the client on a TLS connection
// served with [ServerTLSConfig]. It uses the verified leaf certificate,
// VerifiedChains[0][0], and returns [ErrNoClientCert] when the client sent
// none; other errors match [ErrNotPrincipal].
func PrincipalFromTLS(cs *tls.ConnectionState) (Principal, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Principal{}, ErrNoClientCert
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Principal{}, &CertError{Err: ErrNotPrincipal, Reason: "the client certificate was not verified"}
	}
	return PrincipalFromCert(cs.VerifiedChains[0][0])
}
