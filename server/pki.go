package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/cluster"
	"github.com/trentkms/trent/identity"
)

const (
	nodeCertTTL  = 365 * 24 * time.Hour
	adminCertTTL = 365 * 24 * time.Hour
)

// pki is the node's view of the cluster's certificates.
type pki struct {
	// ca is the cluster CA with its key on the node that created the
	// cluster, as its data dir holds it (after a CA rotation, until
	// syncCA catches up, the one before); nil on nodes that joined (they
	// use the replicated, sealed CA).
	ca *identity.CA
	// trust is the CAs the node trusts: the cluster CA and, during a CA
	// rotation's overlap, the one before (see catrust.go). Every TLS
	// configuration reads it at each handshake.
	trust atomic.Pointer[trustSet]
	// node is the node certificate in force (Leaf set) and serving the
	// same followed by the CA certificate that issued it. Renewal
	// (certrenew.go) swaps both; every TLS configuration reads them
	// through callbacks, so new handshakes use the new certificate and
	// open connections go on.
	node    atomic.Pointer[tls.Certificate]
	serving atomic.Pointer[tls.Certificate]
	// mu serializes setNode and setTrust: serving depends on both.
	mu sync.Mutex
}

func newPKI(ca *identity.CA, cas []*x509.Certificate, node tls.Certificate) (*pki, error) {
	p := &pki{ca: ca}
	p.trust.Store(newTrustSet(cas))
	return p, p.setNode(node)
}

// setNode puts c in force as the node certificate.
func (p *pki) setNode(c tls.Certificate) error {
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return fmt.Errorf("node certificate: %w", err)
		}
		c.Leaf = leaf
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.node.Store(&c)
	p.serve()
	return nil
}

// serve sets the serving chain: the node certificate followed by the
// trusted CA certificate that issued it, so that a joining node can check
// it against its token's pin. p.mu is held.
func (p *pki) serve() {
	c := *p.node.Load()
	if issuer := p.trust.Load().issuerOf(c.Leaf); issuer != nil {
		c.Certificate = append(append([][]byte(nil), c.Certificate...), issuer.Raw)
	}
	p.serving.Store(&c)
}

// nodeCert returns the node certificate in force.
func (p *pki) nodeCert() *tls.Certificate { return p.node.Load() }

// loadJoinedPKI loads the certificates of a node that joined a cluster:
// the CA certificates (a bundle during a CA rotation) without a key, and
// the node certificate.
func loadJoinedPKI(dir string) (*pki, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.pem"))
	if err != nil {
		return nil, err
	}
	cas, err := identity.ParseCertsPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster CA certificate: %w", err)
	}
	node, err := loadNodePair(filepath.Join(dir, "node"))
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return newPKI(nil, cas, node)
}

// Files of the cluster CA under the data dir's ca/. Every node has the
// certificate; only the node that created the cluster has the key, sealed
// under its HSM like the replicated copy (see cluster.SealCAKey), so that
// the data directory alone cannot mint certificates.
const (
	caCertFile      = "ca.pem"
	caKeySealedFile = "ca-key.sealed"
	// caKeyPlainFile is where earlier versions kept the CA key in the
	// clear; loadOrCreateCA seals it and removes it.
	caKeyPlainFile = "ca-key.pem"
)

// isJoinedNode reports whether dir belongs to a node that joined a cluster
// (it has the CA certificate but not the CA key).
func isJoinedNode(dir string) bool {
	caDir := filepath.Join(dir, "ca")
	_, certErr := os.Stat(filepath.Join(caDir, caCertFile))
	_, sealedErr := os.Stat(filepath.Join(caDir, caKeySealedFile))
	_, plainErr := os.Stat(filepath.Join(caDir, caKeyPlainFile))
	return certErr == nil && errors.Is(sealedErr, fs.ErrNotExist) && errors.Is(plainErr, fs.ErrNotExist)
}

// loadOrCreatePKI loads the cluster CA (its key unsealed by h), this
// node's certificate and the admin credential from the data dir, creating
// whatever is missing.
func loadOrCreatePKI(ctx context.Context, dir string, h cluster.HSM, nodeID, account string, hosts []string, now time.Time, nodeTTL time.Duration) (*pki, bool, error) {
	ca, created, err := loadOrCreateCA(ctx, filepath.Join(dir, "ca"), h, now)
	if err != nil {
		return nil, false, err
	}
	nodeCert, err := loadOrIssueNode(ca, filepath.Join(dir, "node"), nodeID, hosts, now, nodeTTL)
	if err != nil {
		return nil, false, err
	}
	if err := ensureAdmin(ca, filepath.Join(dir, "admin"), account, now); err != nil {
		return nil, false, err
	}
	cas, err := readCABundle(filepath.Join(dir, "ca"))
	if err != nil {
		return nil, false, err
	}
	p, err := newPKI(ca, cas, nodeCert)
	return p, created, err
}

// loadOrCreateCA loads the cluster CA from caDir, unsealing its key with
// h, or creates it. A CA key left in the clear by an earlier version is
// sealed, the sealed copy written durably, and only then the plaintext
// removed; a crash in between leaves both, and the next start does it
// again.
func loadOrCreateCA(ctx context.Context, caDir string, h cluster.HSM, now time.Time) (*identity.CA, bool, error) {
	// Earlier versions wrote the plaintext key through this fixed
	// temporary name; a crash could leave it behind.
	if err := os.Remove(filepath.Join(caDir, "."+caKeyPlainFile+".tmp")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("remove a leftover plaintext CA key: %w", err)
	}
	certPEM, certErr := os.ReadFile(filepath.Join(caDir, caCertFile))
	sealed, sealedErr := os.ReadFile(filepath.Join(caDir, caKeySealedFile))
	plainPath := filepath.Join(caDir, caKeyPlainFile)
	plain, plainErr := os.ReadFile(plainPath)
	defer clear(plain)
	missing := func(err error) bool { return errors.Is(err, fs.ErrNotExist) }
	switch {
	case certErr == nil && plainErr == nil:
		ca, err := identity.LoadCA(certPEM, plain)
		if err != nil {
			return nil, false, fmt.Errorf("cluster CA in %s: %w", caDir, err)
		}
		if err := writeSealedCAKey(ctx, caDir, h, ca); err != nil {
			return nil, false, err
		}
		if err := os.Remove(plainPath); err != nil {
			return nil, false, fmt.Errorf("remove the plaintext CA key: %w", err)
		}
		if err := syncDir(caDir); err != nil {
			return nil, false, err
		}
		return ca, false, nil
	case certErr == nil && sealedErr == nil:
		// ca.pem is a bundle during a CA rotation; the sealed key opens
		// beside its own certificate only (syncCA writes the bundle
		// first, so after a crash the key may still be the old CA's).
		cas, err := identity.ParseCertsPEM(certPEM)
		if err != nil {
			return nil, false, fmt.Errorf("cluster CA certificate %s: %w", filepath.Join(caDir, caCertFile), err)
		}
		for _, c := range cas {
			var ca *identity.CA
			if ca, err = cluster.OpenCAKey(ctx, h, identity.EncodeCertPEM(c.Raw), sealed); err == nil {
				return ca, false, nil
			}
		}
		return nil, false, fmt.Errorf("cluster CA key %s (it opens only with this node's HSM): %w",
			filepath.Join(caDir, caKeySealedFile), err)
	case missing(certErr) && missing(sealedErr) && missing(plainErr):
		ca, err := identity.NewCA("trent", nil, now)
		if err != nil {
			return nil, false, err
		}
		// The key first: a directory with ca.pem and no key is a joined
		// node's.
		if err := writeSealedCAKey(ctx, caDir, h, ca); err != nil {
			return nil, false, err
		}
		if err := writeFiles(caDir, map[string][]byte{caCertFile: ca.CertPEM()}); err != nil {
			return nil, false, err
		}
		return ca, true, nil
	default:
		return nil, false, fmt.Errorf("cluster CA in %s is incomplete: need both %s and %s", caDir, caCertFile, caKeySealedFile)
	}
}

// writeSealedCAKey seals ca's key with h and writes it to caDir,
// atomically and durably.
func writeSealedCAKey(ctx context.Context, caDir string, h cluster.HSM, ca *identity.CA) error {
	sealed, err := cluster.SealCAKey(ctx, h, rand.Reader, ca)
	if err != nil {
		return err
	}
	return writeFiles(caDir, map[string][]byte{caKeySealedFile: sealed})
}

// loadOrIssueNode returns the node certificate, issuing a new one when it
// is missing, for another node id, lacks a host, or expires within 30 days
// (or a third of ttl, if shorter). A new one is valid for ttl.
func loadOrIssueNode(ca *identity.CA, dir, nodeID string, hosts []string, now time.Time, ttl time.Duration) (tls.Certificate, error) {
	if c, err := loadNodePair(dir); err == nil {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
			id, _ := identity.NodeIDFromCert(leaf)
			if id == nodeID && leaf.NotAfter.After(now.Add(min(30*24*time.Hour, ttl/3))) && coversHosts(leaf, hosts) &&
				leaf.CheckSignatureFrom(ca.Certificate()) == nil {
				c.Leaf = leaf
				return c, nil
			}
		}
	}
	key, err := identity.NewKeyPair()
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := ca.IssueNode(nodeID, hosts, key.Public(), now, ttl)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue node certificate: %w", err)
	}
	return writeNodeCert(dir, der, key)
}

// Files of the node certificate under the data dir's node/. A new pair is
// written first as next-cert.pem and next-key.pem, durably, and then
// renamed over key.pem and cert.pem, in that order; loadNodePair takes the
// first pair of those files that matches, so a crash at any step leaves
// the old pair or the new one usable.
const (
	nodeCertFile     = "cert.pem"
	nodeKeyFile      = "key.pem"
	nodeNextCertFile = "next-cert.pem"
	nodeNextKeyFile  = "next-key.pem"
)

// writeNodeCert writes the node certificate der and its key into dir and
// returns them as a key pair.
func writeNodeCert(dir string, der []byte, key crypto.PrivateKey) (tls.Certificate, error) {
	kp, err := identity.EncodeKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	cp := identity.EncodeCertPEM(der)
	pair, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFiles(dir, map[string][]byte{nodeNextCertFile: cp, nodeNextKeyFile: kp}); err != nil {
		return tls.Certificate{}, err
	}
	for _, f := range [][2]string{{nodeNextKeyFile, nodeKeyFile}, {nodeNextCertFile, nodeCertFile}} {
		if err := os.Rename(filepath.Join(dir, f[0]), filepath.Join(dir, f[1])); err != nil {
			return tls.Certificate{}, err
		}
	}
	return pair, syncDir(dir)
}

// loadNodePair loads the node certificate and key from dir: the first
// pair of cert.pem or next-cert.pem with key.pem or next-key.pem whose
// key matches (see writeNodeCert).
func loadNodePair(dir string) (tls.Certificate, error) {
	var first error
	for _, f := range [][2]string{{nodeCertFile, nodeKeyFile}, {nodeNextCertFile, nodeKeyFile}, {nodeCertFile, nodeNextKeyFile}} {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, f[0]), filepath.Join(dir, f[1]))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return tls.Certificate{}, first
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// ensureAdmin writes the account root's credential if it is missing.
func ensureAdmin(ca *identity.CA, dir, account string, now time.Time) error {
	if _, err := os.Stat(filepath.Join(dir, "cert.pem")); err == nil {
		return nil
	}
	key, err := identity.NewKeyPair()
	if err != nil {
		return err
	}
	der, err := ca.IssueClient(identity.RootPrincipal(account), key.Public(), now, adminCertTTL)
	if err != nil {
		return fmt.Errorf("issue admin certificate: %w", err)
	}
	kp, err := identity.EncodeKeyPEM(key)
	if err != nil {
		return err
	}
	return identity.WriteCredentials(dir, ca.CertPEM(), identity.EncodeCertPEM(der), kp)
}

// hostsOf returns the hosts a node certificate must name for addrs.
func hostsOf(addrs ...string) []string {
	hosts := identity.LoopbackHosts()
	seen := map[string]bool{}
	for _, h := range hosts {
		seen[h] = true
	}
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil || h == "" || seen[h] {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		seen[h] = true
		hosts = append(hosts, h)
	}
	return hosts
}

// writeFiles writes files into dir (mode 0700) with mode 0600, atomically.
// Each goes through a new temporary file (O_EXCL, mode 0600 from the
// start), so a file or symbolic link left at a predictable name can
// neither redirect a private key nor give it a looser mode.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := writeFileAtomic(dir, name, data); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return syncDir(dir)
}

// writeFileAtomic replaces dir/name with data (mode 0600) through a new
// temporary file, synced before the rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// syncDir makes the entries of dir (renames, removals) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
