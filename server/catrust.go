package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
)

// CA rotation (trent cluster rotate-ca; fsm.RotateCA). The replicated
// cluster info names the cluster CA and the CAs a rotation replaced,
// each with a switch time and the end of its overlap. Every node:
//
//   - trusts the cluster CA and every replaced CA until its overlap ends
//     (the trust set: client certificates on the API, node certificates
//     between nodes), reading it at each handshake;
//   - presents a certificate the replaced CA issued until the switch time
//     (half the overlap), so that clients trusting only the old CA keep
//     working while operators hand out the new bundle, and renews from the
//     new CA at the switch;
//   - keeps its data dir in step: ca/ca.pem holds the trust set (a node
//     restarting before its log replays the rotation trusts both), the
//     creating node's sealed CA key follows the cluster CA, and the admin
//     credential in DATA-DIR/admin is reissued by the new CA with the
//     bundle.
//
// syncCA does the last three; certificate renewal (certrenew.go) runs it
// whenever the cluster info or the time crosses a switch or an end.

// trustSet is a set of trusted CA certificates.
type trustSet struct {
	cas  []*x509.Certificate
	pool *x509.CertPool
}

func newTrustSet(cas []*x509.Certificate) *trustSet {
	t := &trustSet{cas: cas, pool: x509.NewCertPool()}
	for _, c := range cas {
		t.pool.AddCert(c)
	}
	return t
}

// issuerOf returns the CA of the set that signed leaf, or nil.
func (t *trustSet) issuerOf(leaf *x509.Certificate) *x509.Certificate {
	for _, c := range t.cas {
		if leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

func (t *trustSet) same(cas []*x509.Certificate) bool {
	return slices.EqualFunc(t.cas, cas, func(a, b *x509.Certificate) bool { return a.Equal(b) })
}

// setTrust puts cas in force as the trusted CAs.
func (p *pki) setTrust(cas []*x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trust.Store(newTrustSet(cas))
	p.serve()
}

// withClientCAs returns base, checking client certificates against the
// trust set in force at each handshake: the configuration the handshake
// uses is a copy of base with ClientCAs set, made once per trust set.
func (p *pki) withClientCAs(base *tls.Config) *tls.Config {
	type derived struct {
		set *trustSet
		cfg *tls.Config
	}
	var cur atomic.Pointer[derived]
	outer := base.Clone()
	outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		t := p.trust.Load()
		if d := cur.Load(); d != nil && d.set == t {
			return d.cfg, nil
		}
		cfg := base.Clone()
		cfg.ClientCAs = t.pool
		cur.Store(&derived{t, cfg})
		return cfg, nil
	}
	return outer
}

// readCABundle reads the CA certificates of the data dir's ca/ca.pem.
func readCABundle(caDir string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(caDir, caCertFile))
	if err != nil {
		return nil, err
	}
	cas, err := identity.ParseCertsPEM(b)
	if err != nil {
		return nil, fmt.Errorf("cluster CA certificates %s: %w", filepath.Join(caDir, caCertFile), err)
	}
	return cas, nil
}

func bundlePEM(cas []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range cas {
		b.Write(identity.EncodeCertPEM(c.Raw))
	}
	return b.Bytes()
}

// trustedCAs returns the CAs trusted at now by the replicated cluster
// info, the cluster CA first; nil before the cluster identity is
// replicated.
func trustedCAs(info *fsm.ClusterInfo, now time.Time) ([]*x509.Certificate, error) {
	if info == nil {
		return nil, nil
	}
	var cas []*x509.Certificate
	for _, pemCert := range info.TrustedCAs(now) {
		c, err := identity.ParseCertPEM(pemCert)
		if err != nil {
			return nil, fmt.Errorf("replicated CA certificate: %w", err)
		}
		cas = append(cas, c)
	}
	return cas, nil
}

// syncCA brings the node's trust set and data dir in step with the
// replicated cluster CA at now (see the top of this file).
func (s *Server) syncCA(ctx context.Context, p *pki) error {
	now := s.certNow()
	cas, err := trustedCAs(s.fsm.Cluster(), now)
	if err != nil || cas == nil {
		return err
	}
	caDir := filepath.Join(s.dataDir, "ca")
	if !p.trust.Load().same(cas) {
		// The file first: a restart trusts what the node trusted.
		if err := writeFiles(caDir, map[string][]byte{caCertFile: bundlePEM(cas)}); err != nil {
			return fmt.Errorf("write the CA bundle: %w", err)
		}
		p.setTrust(cas)
		s.log.Info("trusted cluster CAs changed", "cas", len(cas), "ca_not_after", cas[0].NotAfter.UTC().Format(time.RFC3339))
	}
	if local := p.localCA(); local != nil && !local.Certificate().Equal(cas[0]) {
		ca, err := s.cluster.CA(ctx)
		if err != nil {
			return err
		}
		if err := writeSealedCAKey(ctx, caDir, s.hsm, ca); err != nil {
			return err
		}
		p.setLocalCA(ca)
	}
	return s.syncAdminCredential(ctx, cas)
}

// syncAdminCredential reissues the admin credential in the data dir, if
// there is one, when the cluster CA did not issue it, and keeps its CA
// bundle the trust set.
func (s *Server) syncAdminCredential(ctx context.Context, cas []*x509.Certificate) error {
	dir := filepath.Join(s.dataDir, "admin")
	certPEM, err := os.ReadFile(filepath.Join(dir, identity.CertFile))
	if err != nil {
		return nil // no admin credential here
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, identity.CAFile))
	cert, err := identity.ParseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("admin credential: %w", err)
	}
	bundle := bundlePEM(cas)
	if cert.CheckSignatureFrom(cas[0]) == nil {
		if bytes.Equal(caPEM, bundle) {
			return nil
		}
		keyPEM, err := os.ReadFile(filepath.Join(dir, identity.KeyFile))
		if err != nil {
			return err
		}
		defer clear(keyPEM)
		return identity.WriteCredentials(dir, bundle, certPEM, keyPEM)
	}
	ca, err := s.cluster.CA(ctx)
	if err != nil {
		return err
	}
	key, err := identity.NewKeyPair()
	if err != nil {
		return err
	}
	der, err := ca.IssueClient(identity.RootPrincipal(s.cfg.AccountID), key.Public(), s.certNow(), adminCertTTL)
	if err != nil {
		return fmt.Errorf("issue admin certificate: %w", err)
	}
	kp, err := identity.EncodeKeyPEM(key)
	if err != nil {
		return err
	}
	defer clear(kp)
	if err := identity.WriteCredentials(dir, bundle, identity.EncodeCertPEM(der), kp); err != nil {
		return err
	}
	s.log.Info("admin credential reissued by the new cluster CA", "dir", dir)
	return nil
}

// localCA and setLocalCA read and replace the creating node's CA.
func (p *pki) localCA() *identity.CA {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ca
}

func (p *pki) setLocalCA(ca *identity.CA) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ca = ca
}

// liveCA issues client certificates (for IAM) with the cluster CA in
// force, unsealing it again after a rotation, and hands out the trusted
// CAs as the bundle that comes with them.
type liveCA struct {
	s   *Server
	mu  sync.Mutex
	cur *identity.CA
}

func (l *liveCA) ca() (*identity.CA, error) {
	info := l.s.fsm.Cluster()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil && info != nil && bytes.Equal(l.cur.CertPEM(), info.CACert) {
		return l.cur, nil
	}
	ca, err := l.s.cluster.CA(context.Background())
	if err != nil {
		return nil, err
	}
	l.cur = ca
	return ca, nil
}

func (l *liveCA) SignCSR(csrDER []byte, p identity.Principal, now time.Time, ttl time.Duration) ([]byte, error) {
	ca, err := l.ca()
	if err != nil {
		return nil, err
	}
	return ca.SignCSR(csrDER, p, now, ttl)
}

func (l *liveCA) IssueClient(p identity.Principal, pub crypto.PublicKey, now time.Time, ttl time.Duration) ([]byte, error) {
	ca, err := l.ca()
	if err != nil {
		return nil, err
	}
	return ca.IssueClient(p, pub, now, ttl)
}

// CertPEM is the trusted CAs' bundle, the cluster CA first.
func (l *liveCA) CertPEM() []byte {
	cas, err := trustedCAs(l.s.fsm.Cluster(), l.s.certNow())
	if err != nil || cas == nil {
		if ca, err := l.ca(); err == nil {
			return ca.CertPEM()
		}
		return nil
	}
	return bundlePEM(cas)
}
