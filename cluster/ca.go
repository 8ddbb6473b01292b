package cluster

import (
	"context"
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
