package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/identity"
)

// caKeyID is the fixed key id of the internal key that seals the CA key.
var caKeyID = [16]byte{'t', 'r', 'e', 'n', 't', '/', 'c', 'l', 'u', 's', 't', 'e', 'r', '-', 'c', 'a'}

func caAAD(clusterID string) []byte { return []byte("trent/cluster-ca/v1:" + clusterID) }

// SealCA returns the cluster identity to replicate, with the CA key sealed
// under a fresh internal HSM key.
func SealCA(ctx context.Context, h HSM, rand io.Reader, clusterID, region string, ca *identity.CA) (fsm.ClusterInfo, error) {
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return fsm.ClusterInfo{}, err
	}
	defer clear(keyPEM)
	s, err := sealSecret(ctx, h, rand, caKeyID, caAAD(clusterID), keyPEM)
	if err != nil {
		return fsm.ClusterInfo{}, fmt.Errorf("cluster: CA key: %w", err)
	}
	return fsm.ClusterInfo{
		ID: clusterID, Region: region, CACert: ca.CertPEM(),
		CAKeyID: s.KeyID, CAKeyVersion: s.Version, CAKeyEKT: s.EKT, CAKeyNonce: s.Nonce, CAKeySealed: s.Sealed,
	}, nil
}

// ErrNotInitialized means the cluster identity has not been replicated yet.
var ErrNotInitialized = errors.New("cluster: not initialized")

// CA unseals the replicated cluster CA with this node's HSM.
func (c *Cluster) CA(ctx context.Context) (*identity.CA, error) {
	info := c.cfg.FSM.Cluster()
	if info == nil {
		return nil, ErrNotInitialized
	}
	keyPEM, err := openSecret(ctx, c.cfg.HSM, fsm.SealedSecret{KeyID: info.CAKeyID, Version: info.CAKeyVersion,
		EKT: info.CAKeyEKT, Nonce: info.CAKeyNonce, Sealed: info.CAKeySealed}, caAAD(info.ID))
	if err != nil {
		return nil, fmt.Errorf("cluster: unseal CA key: %w", err)
	}
	defer clear(keyPEM)
	return identity.LoadCA(info.CACert, keyPEM)
}

// The node that creates a cluster keeps the CA key too, to issue its own
// node certificate and the admin credential before raft runs. It keeps it
// sealed like the replicated copy, in a file (ca/ca-key.sealed):
//
//	{"format": "trent-ca-key/v1", "key": <fsm.SealedSecret>}
//
// with the additional data "trent/node-ca-key/v1:" followed by the hex
// SHA-256 of the CA certificate (DER), so the key opens only with this
// cluster's domain key and only beside its own certificate.
const localCAFormat = "trent-ca-key/v1"

type localCAFile struct {
	Format string           `json:"format"`
	Key    fsm.SealedSecret `json:"key"`
}

func localCAAAD(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return []byte("trent/node-ca-key/v1:" + hex.EncodeToString(sum[:]))
}

// SealCAKey returns ca's private key sealed under a fresh internal HSM key,
// in the file format above. Whoever reads the file learns nothing without
// an HSM holding the domain key.
func SealCAKey(ctx context.Context, h HSM, rand io.Reader, ca *identity.CA) ([]byte, error) {
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	s, err := sealSecret(ctx, h, rand, caKeyID, localCAAAD(ca.Certificate()), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster: seal CA key: %w", err)
	}
	return json.Marshal(localCAFile{Format: localCAFormat, Key: s})
}

// OpenCAKey opens a CA key sealed by [SealCAKey] for the CA certificate
// certPEM, and returns the CA.
func OpenCAKey(ctx context.Context, h HSM, certPEM, sealed []byte) (*identity.CA, error) {
	cert, err := identity.ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster: CA certificate: %w", err)
	}
	var f localCAFile
	d := json.NewDecoder(bytes.NewReader(sealed))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil || f.Format != localCAFormat || d.More() {
		return nil, errors.New("cluster: sealed CA key: not a " + localCAFormat + " file")
	}
	keyPEM, err := openSecret(ctx, h, f.Key, localCAAAD(cert))
	if err != nil {
		return nil, fmt.Errorf("cluster: open sealed CA key: %w", err)
	}
	defer clear(keyPEM)
	return identity.LoadCA(certPEM, keyPEM)
}

// DefaultCAOverlap is how long a CA rotation keeps the old CA trusted when
// the caller names no overlap.
const DefaultCAOverlap = 7 * 24 * time.Hour

// RotateCA replaces the cluster CA with a new one, made and sealed here
// (any unsealed member can), keeping the old one trusted for overlap (see
// fsm.RotateCA). It returns the cluster identity after the rotation.
func (c *Cluster) RotateCA(ctx context.Context, overlap time.Duration) (*fsm.ClusterInfo, error) {
	info := c.cfg.FSM.Cluster()
	if info == nil {
		return nil, ErrNotInitialized
	}
	now := c.cfg.Now()
	// The CA's name tells the generations apart (openssl x509 -subject).
	ca, err := identity.NewCA("trent "+now.UTC().Format("20060102T150405Z"), c.cfg.Rand, now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	s, err := sealSecret(ctx, c.cfg.HSM, c.cfg.Rand, caKeyID, caAAD(info.ID), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster: CA key: %w", err)
	}
	if _, err := propose(ctx, c, &fsm.RotateCA{CACert: ca.CertPEM(), CAKey: s, Now: now.UnixMilli(), Overlap: overlap.Milliseconds()}); err != nil {
		return nil, err
	}
	return c.cfg.FSM.Cluster(), nil
}

func (s *service) RotateCA(ctx context.Context, req *clusterv1.RotateCARequest) (*clusterv1.RotateCAResponse, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	overlap := time.Duration(req.GetOverlapSeconds()) * time.Second
	switch {
	case req.GetOverlapSeconds() == 0:
		overlap = DefaultCAOverlap
	case overlap < fsm.MinCAOverlap || req.GetOverlapSeconds() > int64(10*365*24*time.Hour/time.Second):
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("overlap must be between %s and 10 years", fsm.MinCAOverlap))
	}
	info, err := s.c.RotateCA(ctx, overlap)
	if err != nil {
		return nil, err
	}
	if len(info.PreviousCAs) == 0 {
		return nil, connect.NewError(connect.CodeInternal, errors.New("the rotation left no previous CA"))
	}
	prev := info.PreviousCAs[0]
	s.c.cfg.Logger.Info("cluster CA rotated", "switch_at", time.UnixMilli(prev.SwitchAt).UTC().Format(time.RFC3339),
		"until", time.UnixMilli(prev.Until).UTC().Format(time.RFC3339))
	return &clusterv1.RotateCAResponse{CaBundle: bytes.Join(info.TrustedCAs(s.c.cfg.Now()), nil),
		SwitchAt: time.UnixMilli(prev.SwitchAt).UTC().Format(time.RFC3339), Until: time.UnixMilli(prev.Until).UTC().Format(time.RFC3339)}, nil
}
