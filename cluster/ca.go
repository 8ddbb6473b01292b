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

	"github.com/trentkms/trent/fsm"
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
