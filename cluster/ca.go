package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/identity"
)

// caKeyID is the fixed key id of the internal key that seals the CA key.
var caKeyID = [16]byte{'t', 'r', 'e', 'n', 't', '/', 'c', 'l', 'u', 's', 't', 'e', 'r', '-', 'c', 'a'}

func caAAD(clusterID string) []byte { return []byte("trent/cluster-ca/v1:" + clusterID) }

// SealCA returns the cluster identity to replicate, with the CA key sealed
// under a fresh internal HSM key.
func SealCA(ctx context.Context, h HSM, rand io.Reader, clusterID, region string, ca *identity.CA) (fsm.ClusterInfo, error) {
	var version, nonce [16]byte
	if _, err := io.ReadFull(rand, version[:]); err != nil {
		return fsm.ClusterInfo{}, err
	}
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return fsm.ClusterInfo{}, err
	}
	ekt, err := h.GenerateKey(ctx, hsm.SymmetricDefault, caKeyID, version)
	if err != nil {
		return fsm.ClusterInfo{}, fmt.Errorf("cluster: CA wrapping key: %w", err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return fsm.ClusterInfo{}, err
	}
	defer clear(keyPEM)
	ref := hsm.KeyRef{KeyID: caKeyID, VersionID: version, Spec: hsm.SymmetricDefault, EKT: ekt}
	sealed, err := h.Seal(ctx, ref, nonce, caAAD(clusterID), keyPEM)
	if err != nil {
		return fsm.ClusterInfo{}, fmt.Errorf("cluster: seal CA key: %w", err)
	}
	return fsm.ClusterInfo{
		ID: clusterID, Region: region, CACert: ca.CertPEM(),
		CAKeyID: hex.EncodeToString(caKeyID[:]), CAKeyVersion: hex.EncodeToString(version[:]), CAKeyEKT: ekt,
		CAKeyNonce: nonce[:], CAKeySealed: sealed,
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
	var version, nonce [16]byte
	v, err := hex.DecodeString(info.CAKeyVersion)
	if err != nil || len(v) != 16 || len(info.CAKeyNonce) != 16 {
		return nil, errors.New("cluster: malformed CA record")
	}
	copy(version[:], v)
	copy(nonce[:], info.CAKeyNonce)
	ref := hsm.KeyRef{KeyID: caKeyID, VersionID: version, Spec: hsm.SymmetricDefault, EKT: info.CAKeyEKT}
	keyPEM, err := c.cfg.HSM.Open(ctx, ref, nonce, caAAD(info.ID), info.CAKeySealed)
	if err != nil {
		return nil, fmt.Errorf("cluster: unseal CA key: %w", err)
	}
	defer clear(keyPEM)
	return identity.LoadCA(info.CACert, keyPEM)
}
