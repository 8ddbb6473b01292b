package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/hsm"
)

// sealSecret seals plaintext under a fresh internal HSM key (id keyID,
// random version) whose material is an EKT: any node holding the domain
// key can open the result; the log and snapshots hold only ciphertext.
func sealSecret(ctx context.Context, h HSM, rand io.Reader, keyID [16]byte, aad, plaintext []byte) (fsm.SealedSecret, error) {
	var version, nonce [16]byte
	if _, err := io.ReadFull(rand, version[:]); err != nil {
		return fsm.SealedSecret{}, err
	}
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return fsm.SealedSecret{}, err
	}
	ekt, err := h.GenerateKey(ctx, hsm.SymmetricDefault, keyID, version)
	if err != nil {
		return fsm.SealedSecret{}, fmt.Errorf("cluster: wrapping key: %w", err)
	}
	ref := hsm.KeyRef{KeyID: keyID, VersionID: version, Spec: hsm.SymmetricDefault, EKT: ekt}
	sealed, err := h.Seal(ctx, ref, nonce, aad, plaintext)
	if err != nil {
		return fsm.SealedSecret{}, fmt.Errorf("cluster: seal: %w", err)
	}
	return fsm.SealedSecret{KeyID: hex.EncodeToString(keyID[:]), Version: hex.EncodeToString(version[:]), EKT: ekt,
		Nonce: nonce[:], Sealed: sealed}, nil
}

// openSecret opens what sealSecret sealed.
func openSecret(ctx context.Context, h HSM, s fsm.SealedSecret, aad []byte) ([]byte, error) {
	var keyID, version, nonce [16]byte
	k, err1 := hex.DecodeString(s.KeyID)
	v, err2 := hex.DecodeString(s.Version)
	if err1 != nil || err2 != nil || len(k) != 16 || len(v) != 16 || len(s.Nonce) != 16 {
		return nil, errors.New("cluster: malformed sealed record")
	}
	copy(keyID[:], k)
	copy(version[:], v)
	copy(nonce[:], s.Nonce)
	ref := hsm.KeyRef{KeyID: keyID, VersionID: version, Spec: hsm.SymmetricDefault, EKT: s.EKT}
	return h.Open(ctx, ref, nonce, aad, s.Sealed)
}

// gossipKeyID is the fixed key id of the internal key that seals the
// gossip key.
var gossipKeyID = [16]byte{'t', 'r', 'e', 'n', 't', '/', 'g', 'o', 's', 's', 'i', 'p', '-', 'k', 'e', 'y'}

func gossipAAD(clusterID string) []byte { return []byte("trent/gossip-key/v1:" + clusterID) }

// SealGossipKey draws a new 32-byte gossip key and returns it sealed.
func SealGossipKey(ctx context.Context, h HSM, rand io.Reader, clusterID string) (fsm.SealedSecret, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand, key); err != nil {
		return fsm.SealedSecret{}, err
	}
	defer clear(key)
	return sealSecret(ctx, h, rand, gossipKeyID, gossipAAD(clusterID), key)
}

// OpenGossipKey opens a sealed gossip key of the cluster clusterID.
func OpenGossipKey(ctx context.Context, h HSM, clusterID string, s fsm.SealedSecret) ([]byte, error) {
	key, err := openSecret(ctx, h, s, gossipAAD(clusterID))
	if err != nil {
		return nil, fmt.Errorf("cluster: open gossip key: %w", err)
	}
	return key, nil
}

// EnsureGossipKey returns the cluster's gossip key, sealed and opened:
// the replicated one, or, on a cluster that has none yet, a new one this
// node proposes (if two nodes race, the log keeps the first).
func (c *Cluster) EnsureGossipKey(ctx context.Context) (fsm.SealedSecret, []byte, error) {
	info := c.cfg.FSM.Cluster()
	if info == nil {
		return fsm.SealedSecret{}, nil, ErrNotInitialized
	}
	if info.GossipKey == nil {
		sk, err := SealGossipKey(ctx, c.cfg.HSM, c.cfg.Rand, info.ID)
		if err != nil {
			return fsm.SealedSecret{}, nil, err
		}
		if _, _, err := fsm.Apply(ctx, c, &fsm.SetGossipKey{Key: sk}); err != nil {
			return fsm.SealedSecret{}, nil, fmt.Errorf("cluster: set gossip key: %w", err)
		}
		if info = c.cfg.FSM.Cluster(); info.GossipKey == nil {
			return fsm.SealedSecret{}, nil, errors.New("cluster: gossip key was not recorded")
		}
	}
	key, err := OpenGossipKey(ctx, c.cfg.HSM, info.ID, *info.GossipKey)
	if err != nil {
		return fsm.SealedSecret{}, nil, err
	}
	return *info.GossipKey, key, nil
}
