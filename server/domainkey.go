package server

// Domain-key rotation wiring (package cluster runs it): the knobs, the
// loop every node runs, and the files a node keeps sealed under its HSM,
// re-sealed before the old domain key is destroyed. Kept apart from
// server.go so that start-up changes merge easily.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/trentkms/trent/cluster"
)

// rotationConfig sets the rotation settings of the cluster config.
func (s *Server) rotationConfig(c *cluster.Config, dir string) {
	k := s.cfg.knobs()
	c.RewrapBatch, c.RewrapHold = k.RewrapBatch, k.RewrapHold
	c.BeforeRetire = func(ctx context.Context) error { return s.resealLocal(ctx, dir) }
}

// startDomainRotation runs this node's rotation steps until Close.
func (s *Server) startDomainRotation(k TestingKnobs) {
	// Short: a node switches to the new key within an interval of the
	// rotation re-wrapping, and a step with nothing to do reads two values.
	interval := k.RotationInterval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.cluster.RunDomainRotation(ctx, interval) }()
	s.onClose(func() error { cancel(); <-done; return nil })
}

// resealLocal re-seals, under the HSM's current domain key, what this
// node keeps in its data dir sealed under the one being retired: the
// bootstrap node's copy of the CA key and the gossip key file (which
// then holds the replicated key, already re-wrapped).
func (s *Server) resealLocal(ctx context.Context, dir string) error {
	caDir := filepath.Join(dir, "ca")
	certPEM, certErr := os.ReadFile(filepath.Join(caDir, caCertFile))
	sealed, sealedErr := os.ReadFile(filepath.Join(caDir, caKeySealedFile))
	switch {
	case certErr == nil && sealedErr == nil:
		ca, err := cluster.OpenCAKey(ctx, s.hsm, certPEM, sealed)
		if err != nil {
			return err
		}
		if err := writeSealedCAKey(ctx, caDir, s.hsm, ca); err != nil {
			return err
		}
	case !errors.Is(sealedErr, fs.ErrNotExist):
		return sealedErr
	}
	info := s.fsm.Cluster()
	if info == nil || info.GossipKey == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(gossipDir(s.dataDir), "key.json")); err != nil {
		return nil
	}
	rec, err := json.Marshal(sealedGossipKey{ClusterID: info.ID, Key: *info.GossipKey})
	if err != nil {
		return err
	}
	return writeFiles(gossipDir(s.dataDir), map[string][]byte{"key.json": rec})
}
