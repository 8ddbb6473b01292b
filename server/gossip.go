package server

// Gossip wiring: the node's memberlist, its sealed key file, and the
// leader's membership loop. Kept apart from server.go so that start-up
// changes merge easily.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/trentkms/trent/cluster"
	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/gossip"
)

// gossipState is the running gossip of a Server.
type gossipState struct {
	g      *gossip.Gossip
	cancel context.CancelFunc // stops the membership loop
	done   chan struct{}
}

// sealedGossipKey is DIR/gossip/key.json: the cluster's gossip key as the
// replicated state holds it, sealed (never plaintext), so a restarted node
// can gossip before it has caught up with the cluster.
type sealedGossipKey struct {
	ClusterID string           `json:"cluster_id"`
	Key       fsm.SealedSecret `json:"key"`
}

func gossipDir(dataDir string) string { return filepath.Join(dataDir, "gossip") }

// startGossipEarly starts gossip from the sealed key file, if there is one,
// and rejoins the peers saved at the last run: a restarted node (perhaps on
// new addresses) tells the leader where it is before it catches up.
func (s *Server) startGossipEarly(ctx context.Context) {
	b, err := os.ReadFile(filepath.Join(gossipDir(s.dataDir), "key.json"))
	if err != nil {
		return
	}
	var rec sealedGossipKey
	if err := json.Unmarshal(b, &rec); err != nil {
		s.log.Warn("ignoring unreadable gossip key file", "err", err)
		return
	}
	key, err := cluster.OpenGossipKey(ctx, s.hsm, rec.ClusterID, rec.Key)
	if err != nil {
		s.log.Warn("ignoring gossip key file", "err", err)
		return
	}
	defer clear(key)
	if err := s.startGossip(key, rec.ClusterID); err != nil {
		s.log.Warn("gossip did not start early", "err", err)
		return
	}
	if n, err := s.gossip.g.Join(s.gossip.g.Peers()); err != nil {
		s.log.Info("no saved gossip peer answered", "err", err)
	} else {
		s.log.Debug("rejoined gossip", "peers", n)
	}
}

// startGossip starts memberlist with key, labelled with the cluster id.
func (s *Server) startGossip(key []byte, clusterID string) error {
	g, err := gossip.Start(gossip.Config{
		Name: s.nodeID, BindAddr: s.cfg.GossipAddr, Key: key, Label: clusterID,
		Meta:          gossip.Meta{RaftAddr: s.raft.Addr(), APIAddr: s.APIAddr()},
		PeersFile:     filepath.Join(gossipDir(s.dataDir), "peers.json"),
		ProbeInterval: s.cfg.knobs().GossipProbeInterval,
		OnChange:      s.cluster.Kick,
		Logger:        s.log.With("component", "gossip"),
	})
	if err != nil {
		return fmt.Errorf("gossip on %s: %w", s.cfg.GossipAddr, err)
	}
	s.gossip = &gossipState{g: g}
	s.cluster.SetGossip(g)
	return nil
}

// startMembership runs once the node has caught up: it starts gossip if
// it is not running yet (making the cluster's gossip key if the cluster
// has none), records the sealed key on disk, records this node's gossip
// address, joins the members it knows, and starts the membership loop.
// Until the loop starts, each step may be taken again (see startStep):
// a second gossip key is not set over the first, and gossip started by
// a failed pass is reused.
func (s *Server) startMembership(ctx context.Context) error {
	sk, key, err := s.cluster.EnsureGossipKey(ctx)
	if err != nil {
		return err
	}
	defer clear(key)
	clusterID := s.fsm.Cluster().ID
	rec, err := json.Marshal(sealedGossipKey{ClusterID: clusterID, Key: sk})
	if err != nil {
		return err
	}
	if err := writeFiles(gossipDir(s.dataDir), map[string][]byte{"key.json": rec}); err != nil {
		return err
	}
	if s.gossip == nil {
		if err := s.startGossip(key, clusterID); err != nil {
			return err
		}
	} else {
		// Started early from key.json, maybe with a key replaced since.
		if err := s.gossip.g.UseKey(key); err != nil {
			return err
		}
		s.gossip.g.RetireOtherKeys()
	}
	self := s.selfInfo()
	if n, ok := s.fsm.Node(s.nodeID); !ok || n != self {
		if err := s.propose(ctx, &fsm.RegisterNode{Node: self}); err != nil {
			return fmt.Errorf("register gossip address: %w", err)
		}
	}
	var seeds []string
	for _, n := range s.fsm.Nodes() {
		if n.ID != s.nodeID && n.GossipAddr != "" {
			seeds = append(seeds, n.GossipAddr)
		}
	}
	if _, err := s.gossip.g.Join(append(seeds, s.gossip.g.Peers()...)); err != nil {
		s.log.Info("no gossip peer answered yet; retrying in the background", "err", err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	s.gossip.cancel, s.gossip.done = cancel, make(chan struct{})
	interval := time.Duration(s.cfg.knobs().MembershipInterval)
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		s.cluster.RunMembership(mctx, cluster.Membership{Interval: s.cfg.knobs().MembershipInterval,
			DeadServerCleanup: time.Duration(s.cfg.DeadServerCleanup), MinVoters: s.cfg.CleanupMinVoters})
	})
	wg.Go(func() { s.watchGossipKey(mctx, sk, interval) })
	go func() {
		defer close(s.gossip.done)
		wg.Wait()
	}()
	return nil
}

// watchGossipKey switches gossip to the cluster's key when it changes
// (removing a member replaces it; see cluster.removeMember), checking every
// interval. It sends under the new key at once and accepts the old one for
// three more intervals, so that members applying the change a little later
// are still heard; then the removed node, which holds only the old key, is
// heard by no one. It records the sealed key for restarts.
func (s *Server) watchGossipKey(ctx context.Context, installed fsm.SealedSecret, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var retireAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !retireAt.IsZero() && time.Now().After(retireAt) {
			s.gossip.g.RetireOtherKeys()
			retireAt = time.Time{}
		}
		info := s.fsm.Cluster()
		if info == nil || info.GossipKey == nil || bytes.Equal(info.GossipKey.Sealed, installed.Sealed) {
			continue
		}
		key, err := cluster.OpenGossipKey(ctx, s.hsm, info.ID, *info.GossipKey)
		if err == nil {
			err = s.gossip.g.UseKey(key)
			clear(key)
		}
		if err == nil {
			var rec []byte
			if rec, err = json.Marshal(sealedGossipKey{ClusterID: info.ID, Key: *info.GossipKey}); err == nil {
				err = writeFiles(gossipDir(s.dataDir), map[string][]byte{"key.json": rec})
			}
		}
		if err != nil {
			s.log.Warn("cannot switch to the cluster's new gossip key; retrying", "err", err)
			continue
		}
		installed = *info.GossipKey
		retireAt = time.Now().Add(3 * interval)
		s.log.Info("switched to the cluster's new gossip key")
	}
}

// selfInfo is this node's entry in the member table.
func (s *Server) selfInfo() fsm.NodeInfo {
	n := fsm.NodeInfo{ID: s.nodeID, RaftAddr: s.raft.Addr(), APIAddr: s.APIAddr()}
	if s.gossip != nil {
		n.GossipAddr = s.gossip.g.Addr()
	}
	return n
}

// stopGossip stops the membership loop and leaves gossip gracefully.
func (s *Server) stopGossip() error {
	if s.gossip == nil {
		return nil
	}
	if s.gossip.cancel != nil {
		s.gossip.cancel()
		select {
		case <-s.gossip.done:
		case <-time.After(10 * time.Second):
			return errors.New("membership loop did not stop")
		}
	}
	err := s.gossip.g.Close()
	s.gossip = nil
	return err
}

// GossipAddr returns the node's gossip address, or "" before gossip runs.
func (s *Server) GossipAddr() string {
	if s.gossip == nil {
		return ""
	}
	return s.gossip.g.Addr()
}

// GossipMembers returns the members this node's gossip knows of.
func (s *Server) GossipMembers() []gossip.Member {
	if s.gossip == nil {
		return nil
	}
	return s.gossip.g.Members()
}
