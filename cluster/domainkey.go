package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/hsm"
)

// Domain-key rotation (docs/hsm.md, "Rotating the domain key"). The
// leader makes a new domain key in its HSM and records a rotation in the
// state machine; every node then runs the same steps from that record,
// so a leader change or a restart resumes where the record says:
//
//   - distributing: a node whose HSM lacks the new key posts its HSM
//     identity key; a node holding the key posts a domain token sealed to
//     it (HPKE, as on join); the node imports it and posts that it is
//     ready. The leader moves on once every member is ready.
//   - rewrapping: every node wraps new EKTs under the new key; the leader
//     re-wraps the old ones in bounded batches (RewrapEKTs, refused at
//     apply if stale), then replaces the gossip key and moves on.
//   - done: every node destroys the old key.

// rotatorHSM is the HSM of a node that rotates domain keys.
type rotatorHSM interface {
	HSM
	hsm.DomainRotator
	IdentityPublicKey() []byte
	DomainKeyID() [16]byte
}

// rotation is a Cluster's rotation runner.
type rotation struct {
	mu   sync.Mutex // serializes steps and starts
	kick chan struct{}
}

// ReasonOnDemand is the reason recorded for trent cluster rotate-domain-key.
const ReasonOnDemand = "rotate-domain-key"

// ErrRotationUnsupported means this node's HSM cannot rotate domain keys.
var ErrRotationUnsupported = errors.New("cluster: this node's HSM backend cannot rotate the domain key")

// ErrRotationBusy means a rotation is re-wrapping: another cannot start.
var ErrRotationBusy = errors.New("cluster: a domain-key rotation is re-wrapping; wait until it is done")

func (c *Cluster) rotator() (rotatorHSM, error) {
	h, ok := c.cfg.HSM.(rotatorHSM)
	if !ok {
		return nil, ErrRotationUnsupported
	}
	return h, nil
}

func (c *Cluster) kickRotation() {
	select {
	case c.rot.kick <- struct{}{}:
	default:
	}
}

// StartDomainRotation starts a rotation of the domain key; it must run
// on the leader. reason is recorded ("rotate-domain-key", "remove n3").
func (c *Cluster) StartDomainRotation(ctx context.Context, reason string) (*fsm.DomainRotation, error) {
	h, err := c.rotator()
	if err != nil {
		return nil, err
	}
	c.rot.mu.Lock()
	defer c.rot.mu.Unlock()
	return c.startLocked(ctx, h, reason)
}

// startLocked is StartDomainRotation with c.rot.mu held. A removal while
// a rotation re-wraps is queued behind it: the removed node may hold the
// new key too.
func (c *Cluster) startLocked(ctx context.Context, h rotatorHSM, reason string) (*fsm.DomainRotation, error) {
	if r := c.cfg.FSM.DomainRotation(); r != nil && r.State == fsm.RotationRewrapping {
		if reason == ReasonOnDemand {
			return r, ErrRotationBusy
		}
		if _, _, err := fsm.Apply(ctx, c.cfg.Raft, &fsm.StartDomainRotation{Queue: true, Reason: reason}); err != nil {
			return nil, err
		}
		c.cfg.Logger.Info("domain-key rotation queued behind the one re-wrapping", "reason", reason)
		return c.cfg.FSM.DomainRotation(), nil
	}
	members, err := c.memberIDs()
	if err != nil {
		return nil, err
	}
	old := h.DomainKeyID()
	next, err := h.NewDomainKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: new domain key: %w", err)
	}
	cmd := &fsm.StartDomainRotation{OldKeyID: hex.EncodeToString(old[:]), NewKeyID: hex.EncodeToString(next[:]),
		Reason: reason, Members: members, Proposer: c.cfg.NodeID, Now: c.cfg.Now().UnixMilli()}
	if _, _, err := fsm.Apply(ctx, c.cfg.Raft, cmd); err != nil {
		if derr := h.DestroyDomainKey(context.WithoutCancel(ctx), next); derr != nil {
			c.cfg.Logger.Warn("cannot destroy an unused domain key", "err", derr)
		}
		return nil, err
	}
	c.cfg.Logger.Info("domain-key rotation started", "reason", reason, "generation", c.cfg.FSM.DomainRotation().Generation)
	c.kickRotation()
	return c.cfg.FSM.DomainRotation(), nil
}

// memberIDs returns the ids of the raft configuration's members, sorted.
func (c *Cluster) memberIDs() ([]string, error) {
	members, err := c.cfg.Raft.Members()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// RunDomainRotation runs this node's rotation steps every interval (and
// when a rotation starts here) until ctx ends. Every node runs it.
func (c *Cluster) RunDomainRotation(ctx context.Context, interval time.Duration) {
	if _, err := c.rotator(); err != nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.rot.kick:
		}
		if err := c.RotationStep(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("domain-key rotation step", "err", err)
		}
	}
}

// RotationStep takes this node's next steps in the current rotation, and
// the leader's if it leads.
func (c *Cluster) RotationStep(ctx context.Context) error {
	h, err := c.rotator()
	if err != nil {
		return err
	}
	c.rot.mu.Lock()
	defer c.rot.mu.Unlock()
	r := c.cfg.FSM.DomainRotation()
	if r == nil || c.cfg.FSM.Cluster() == nil {
		return nil
	}
	if err := c.nodeStep(ctx, h, r); err != nil {
		return err
	}
	if !c.cfg.Raft.IsLeader() {
		return nil
	}
	if r = c.cfg.FSM.DomainRotation(); r.State == fsm.RotationDone && r.Queued != "" {
		_, err := c.startLocked(ctx, h, r.Queued)
		return err
	}
	return c.leaderStep(ctx, h, r)
}

// domainInfo binds a rotation's domain token to the cluster, the
// generation and the recipient.
func (c *Cluster) domainInfo(r *fsm.DomainRotation, node string) []byte {
	return []byte("trent/rotate/" + c.cfg.FSM.Cluster().ID + "/" + strconv.Itoa(r.Generation) + "/" + node)
}

func parseKeyID(s string) ([16]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return [16]byte{}, fmt.Errorf("cluster: malformed id %q", s)
	}
	return [16]byte(b), nil
}

// nodeStep is what every node does: hold the new key, say so, hand it
// to others, use it once the cluster re-wraps, destroy the old one once
// it is done, and destroy keys no rotation needs.
func (c *Cluster) nodeStep(ctx context.Context, h rotatorHSM, r *fsm.DomainRotation) error {
	self := c.cfg.NodeID
	oldID, err1 := parseKeyID(r.OldKeyID)
	newID, err2 := parseKeyID(r.NewKeyID)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	held := h.DomainKeyIDs()
	if len(held) == 0 {
		return nil // no domain key yet: the node is joining
	}
	holds := slices.Contains(held, newID)
	handoff := func(hf fsm.DomainKeyHandoff) error {
		hf.Generation, hf.NewKeyID = r.Generation, r.NewKeyID
		_, _, err := fsm.Apply(ctx, c, &hf)
		return err
	}
	if r.State != fsm.RotationDone {
		switch {
		case holds:
		case r.Tokens[self] != nil:
			if _, err := h.AddDomainKey(ctx, r.Tokens[self], c.domainInfo(r, self)); err != nil {
				return fmt.Errorf("import the new domain key: %w", err)
			}
			holds = true
		case r.Identities[self] == nil:
			return handoff(fsm.DomainKeyHandoff{Node: self, Identity: h.IdentityPublicKey()})
		default:
			return nil // waiting for a token
		}
		if !r.IsReady(self) {
			if err := handoff(fsm.DomainKeyHandoff{Node: self, Ready: true}); err != nil {
				return err
			}
		}
		for _, node := range slices.Sorted(mapKeys(r.Identities)) {
			if r.Tokens[node] != nil || r.IsReady(node) {
				continue
			}
			tok, err := h.ExportDomainKey(ctx, newID, r.Identities[node], c.domainInfo(r, node))
			if err != nil {
				return fmt.Errorf("seal the new domain key to %s: %w", node, err)
			}
			if err := handoff(fsm.DomainKeyHandoff{Node: node, Token: tok}); err != nil {
				return err
			}
		}
	}
	if r.State != fsm.RotationDistributing && holds && h.DomainKeyID() != newID {
		if err := h.UseDomainKey(ctx, newID); err != nil {
			return err
		}
		c.cfg.Logger.Info("now wrapping under the new domain key", "generation", r.Generation)
	}
	// Destroy what no rotation needs: the old key once done, a key of a
	// replaced rotation.
	cur := h.DomainKeyID()
	for _, id := range held {
		keep := id == cur || id == newID || (id == oldID && r.State != fsm.RotationDone)
		if keep {
			continue
		}
		if id == oldID && c.cfg.BeforeRetire != nil {
			if err := c.cfg.BeforeRetire(ctx); err != nil {
				return fmt.Errorf("before retiring the old domain key: %w", err)
			}
		}
		if err := h.DestroyDomainKey(ctx, id); err != nil {
			return err
		}
		c.cfg.Logger.Info("destroyed a retired domain key", "generation", r.Generation)
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// leaderStep is the leader's: advance once every member is ready,
// re-wrap in batches, replace the gossip key and finish.
func (c *Cluster) leaderStep(ctx context.Context, h rotatorHSM, r *fsm.DomainRotation) error {
	now := c.cfg.Now().UnixMilli()
	switch r.State {
	case fsm.RotationDistributing:
		members, err := c.memberIDs()
		if err != nil {
			return err
		}
		for _, m := range members {
			if !r.IsReady(m) {
				return nil
			}
		}
		_, _, err = fsm.Apply(ctx, c.cfg.Raft, &fsm.AdvanceDomainRotation{Generation: r.Generation, NewKeyID: r.NewKeyID,
			State: fsm.RotationRewrapping, Members: members, Now: now})
		if err == nil {
			c.kickRotation()
		}
		return err
	case fsm.RotationRewrapping:
		return c.rewrap(ctx, h, r)
	}
	return nil
}

// rewrap re-wraps every EKT under the old key in batches, then finishes.
func (c *Cluster) rewrap(ctx context.Context, h rotatorHSM, r *fsm.DomainRotation) error {
	newID, err := parseKeyID(r.NewKeyID)
	if err != nil {
		return err
	}
	if h.DomainKeyID() != newID {
		return nil // the node step switches first
	}
	size := c.cfg.RewrapBatch
	if size <= 0 || size > fsm.MaxRewrapBatch {
		size = 64
	}
	for {
		if hold := c.cfg.RewrapHold; hold != nil && hold(r.Batches) {
			return nil
		}
		items, left := c.cfg.FSM.StaleEKTs(r.NewKeyID, size)
		if left == 0 {
			break
		}
		batch := make([]fsm.RewrapItem, 0, len(items))
		for _, it := range items {
			ref, err := rewrapRef(it)
			if err == nil {
				it.New, err = h.RewrapEKT(ctx, ref, newID)
			}
			if err != nil {
				return fmt.Errorf("re-wrap %s %s/%s: %w", it.Kind, it.KeyID, it.Version, err)
			}
			batch = append(batch, it)
		}
		if _, _, err := fsm.Apply(ctx, c.cfg.Raft, &fsm.RewrapEKTs{Generation: r.Generation, NewKeyID: r.NewKeyID, Items: batch}); err != nil {
			return err
		}
		if r = c.cfg.FSM.DomainRotation(); r.State != fsm.RotationRewrapping || r.NewKeyID != hex.EncodeToString(newID[:]) {
			return nil
		}
	}
	// The removed node, or anyone who had the old key, holds the gossip
	// key too: replace it, sealed under the new key.
	if err := c.replaceGossipKey(ctx); err != nil {
		return fmt.Errorf("replace the gossip key: %w", err)
	}
	if _, _, err := fsm.Apply(ctx, c.cfg.Raft, &fsm.AdvanceDomainRotation{Generation: r.Generation, NewKeyID: r.NewKeyID,
		State: fsm.RotationDone, Now: c.cfg.Now().UnixMilli()}); err != nil {
		return err
	}
	c.cfg.Logger.Info("domain-key rotation done", "generation", r.Generation, "rewrapped", c.cfg.FSM.DomainRotation().Rewrapped)
	c.kickRotation()
	return nil
}

// rewrapRef names an EKT of the state for the HSM.
func rewrapRef(it fsm.RewrapItem) (hsm.KeyRef, error) {
	keyID, err := parseKeyID(it.KeyID)
	if err != nil {
		return hsm.KeyRef{}, err
	}
	version, err := parseKeyID(it.Version)
	if err != nil {
		return hsm.KeyRef{}, err
	}
	spec, ok := hsm.ParseKeySpec(it.Spec)
	if !ok {
		return hsm.KeyRef{}, fmt.Errorf("cluster: key spec %q", it.Spec)
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: version, Spec: spec, EKT: it.Old}, nil
}

// rotationStatus describes a rotation record for Status.
func rotationStatus(r *fsm.DomainRotation) *clusterv1.DomainRotation {
	if r == nil {
		return nil
	}
	ts := func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	return &clusterv1.DomainRotation{Generation: int32(r.Generation), State: r.State, Reason: r.Reason,
		OldKeyId: r.OldKeyID, NewKeyId: r.NewKeyID, Members: r.Members, Ready: r.Ready,
		Rewrapped: int64(r.Rewrapped), Total: int64(r.Total), Started: ts(r.Started), Finished: ts(r.Finished)}
}
