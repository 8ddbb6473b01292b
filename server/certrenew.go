package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/identity"
)

// Node certificate renewal. Every node checks its certificate every
// CertCheckInterval (ten minutes); once less than CertRenewFraction (a
// third) of its lifetime is left, the node unseals the replicated cluster
// CA with its own HSM (every unsealed member can: cluster.Cluster.CA),
// issues itself a certificate for a new key with the same node id and
// hosts, records the new serial in the replicated state (so that removing
// the node revokes it too), writes it to the data dir, and puts it in
// force. Every TLS configuration reads the certificate through a callback
// (pki.node, pki.serving), so handshakes from then on present the new
// certificate while connections already open go on undisturbed. A failed
// attempt changes nothing and is retried at the next check.

// certNow is the clock of certificate checks.
func (s *Server) certNow() time.Time {
	if now := s.cfg.knobs().CertNow; now != nil {
		return now()
	}
	return time.Now()
}

// nodeCertTTL is the lifetime of the node certificates this node issues.
func (s *Server) nodeCertTTL() time.Duration {
	return cmp.Or(s.cfg.knobs().NodeCertLifetime, nodeCertTTL)
}

// nodeTLSConfigs returns the node-to-node TLS configurations, presenting
// the node certificate in force and checking the peer's against the CAs
// trusted at each handshake (see catrust.go), with validity dates at now
// (nil: time.Now). The client configuration is a function, called at
// each dial: its RootCAs follow the trust set.
func (p *pki) nodeTLSConfigs(now func() time.Time) (server *tls.Config, client func() *tls.Config) {
	server, base := identity.NodeTLSConfigs(nil, *p.nodeCert())
	server.Certificates = nil
	server.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.nodeCert(), nil }
	server.Time = now
	base.Certificates = nil
	base.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return p.nodeCert(), nil }
	base.Time = now
	type derived struct {
		set *trustSet
		cfg *tls.Config
	}
	var cur atomic.Pointer[derived]
	client = func() *tls.Config {
		t := p.trust.Load()
		if d := cur.Load(); d != nil && d.set == t {
			return d.cfg
		}
		cfg := base.Clone()
		cfg.RootCAs = t.pool
		cur.Store(&derived{t, cfg})
		return cfg
	}
	return p.withClientCAs(server), client
}

// renewalDue reports whether c has less than fraction of its lifetime
// left at now.
func renewalDue(c *tls.Certificate, now time.Time, fraction float64) bool {
	life := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)
	return c.Leaf.NotAfter.Sub(now) < time.Duration(float64(life)*fraction)
}

// switchDue reports whether c must be renewed because a CA rotation
// switched the cluster to a CA that did not issue it (see catrust.go).
func switchDue(c *tls.Certificate, info *fsm.ClusterInfo, now time.Time) bool {
	if info == nil {
		return false
	}
	presented, err := identity.ParseCertPEM(info.PresentedCA(now))
	return err == nil && c.Leaf.CheckSignatureFrom(presented) != nil
}

// startCertRenewal runs the renewal checks until the server closes:
// every CertCheckInterval, and within a second of the replicated cluster
// CA changing or a CA rotation's switch or end passing (syncCA first).
func (s *Server) startCertRenewal(p *pki) {
	every := cmp.Or(s.cfg.knobs().CertCheckInterval, 10*time.Minute)
	watch := min(every, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(watch)
		defer t.Stop()
		var seen *fsm.ClusterInfo
		var lastCheck, nextChange time.Time
		for {
			now := s.certNow()
			info := s.fsm.Cluster()
			caChanged := info != seen || (!nextChange.IsZero() && !now.Before(nextChange))
			if caChanged || now.Sub(lastCheck) >= every || now.Before(lastCheck) {
				lastCheck = now
				// A failure is retried at the next check, not at once.
				seen = info
				if info != nil {
					nextChange = info.NextCAChange(now)
				}
				err := s.syncCA(ctx, p)
				if err == nil {
					_, err = s.renewNodeCert(ctx, p)
				}
				if err != nil && ctx.Err() == nil {
					s.log.Warn("node certificate renewal failed; retrying at the next check", "err", err, "next_check", every.String())
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	s.onClose(func() error { cancel(); <-done; return nil })
}

// renewNodeCert renews the node certificate if it is due, and reports
// whether it did.
func (s *Server) renewNodeCert(ctx context.Context, p *pki) (bool, error) {
	cur := p.nodeCert()
	now := s.certNow()
	if !renewalDue(cur, now, cmp.Or(s.cfg.CertRenewFraction, 1.0/3)) && !switchDue(cur, s.fsm.Cluster(), now) {
		return false, nil
	}
	ca, err := s.cluster.CA(ctx)
	if err != nil {
		return false, err
	}
	hosts := append([]string(nil), cur.Leaf.DNSNames...)
	for _, ip := range cur.Leaf.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	key, err := identity.NewKeyPair()
	if err != nil {
		return false, err
	}
	der, err := ca.IssueNode(s.nodeID, hosts, key.Public(), now, s.nodeCertTTL())
	if err != nil {
		return false, fmt.Errorf("issue node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return false, err
	}
	next := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	// Recorded first: a certificate in use is always one that removing
	// the node revokes.
	if err := s.propose(ctx, &fsm.RegisterNode{Node: s.selfInfo(), CertSerial: next.Leaf.SerialNumber.Text(16)}); err != nil {
		return false, fmt.Errorf("record the renewed certificate: %w", err)
	}
	if _, err := writeNodeCert(filepath.Join(s.dataDir, "node"), der, key); err != nil {
		return false, err
	}
	if err := p.setNode(next); err != nil {
		return false, err
	}
	s.log.Info("node certificate renewed", "serial", next.Leaf.SerialNumber.Text(16),
		"not_after", next.Leaf.NotAfter.UTC().Format(time.RFC3339), "previous_not_after", cur.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}
