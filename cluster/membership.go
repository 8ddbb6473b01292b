package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/gossip"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/raft"
)

// Gossip is what the cluster needs from gossip discovery.
type Gossip interface {
	Members() []gossip.Member
	Join(seeds []string) (int, error)
	Addr() string
}

// Membership configures the leader's use of gossip.
type Membership struct {
	// Interval is how often the reconciler runs without a gossip change,
	// and how often gossip re-contacts members it lost; zero means 5s.
	Interval time.Duration
	// DeadServerCleanup, if positive, lets the leader remove a member that
	// gossip has reported dead (or left) for longer than this.
	DeadServerCleanup time.Duration
	// MinVoters is the voter count cleanup never goes below; zero means 3.
	MinVoters int
}

// membership is the gossip side of a Cluster.
type membership struct {
	mu     sync.Mutex
	gossip Gossip
	kick   chan struct{}
}

// SetGossip hands the cluster this node's running gossip.
func (c *Cluster) SetGossip(g Gossip) {
	c.members.mu.Lock()
	c.members.gossip = g
	c.members.mu.Unlock()
	c.Kick()
}

func (c *Cluster) gossipNow() Gossip {
	c.members.mu.Lock()
	defer c.members.mu.Unlock()
	return c.members.gossip
}

// gossipMembers returns gossip's members by node id (empty without gossip).
func (c *Cluster) gossipMembers() map[string]gossip.Member {
	out := map[string]gossip.Member{}
	if g := c.gossipNow(); g != nil {
		for _, m := range g.Members() {
			out[m.Name] = m
		}
	}
	return out
}

// Kick asks for a reconcile pass soon; gossip calls it on every change.
// It never blocks.
func (c *Cluster) Kick() {
	select {
	case c.members.kick <- struct{}{}:
	default:
	}
}

// RunMembership runs until ctx ends. On the leader it reconciles the raft
// configuration with what gossip reports, after every gossip change and
// every m.Interval; on every node it re-contacts members that gossip lost.
func (c *Cluster) RunMembership(ctx context.Context, m Membership) {
	if m.Interval <= 0 {
		m.Interval = 5 * time.Second
	}
	if m.MinVoters <= 0 {
		m.MinVoters = 3
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.rejoinLoop(ctx, m.Interval) })
	defer wg.Wait()
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.members.kick:
		}
		if c.cfg.Raft.IsLeader() {
			if err := c.reconcile(ctx, m); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("membership reconcile", "err", err)
			}
		}
	}
}

// rejoinLoop re-contacts, every interval, the gossip addresses of members
// in the member table that gossip does not see alive: memberlist forgets
// dead members and never probes them again (reference/stack.md 3.5).
func (c *Cluster) rejoinLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g := c.gossipNow()
		if g == nil {
			continue
		}
		gm := c.gossipMembers()
		var seeds []string
		for _, n := range c.cfg.FSM.Nodes() {
			if m, ok := gm[n.ID]; n.ID != c.cfg.NodeID && n.GossipAddr != "" && (!ok || m.Health != gossip.Alive) {
				seeds = append(seeds, n.GossipAddr)
			}
		}
		if len(seeds) > 0 {
			_, _ = g.Join(seeds) // best effort; the next tick tries again
		}
	}
}

// reconcile is one leader pass. Gossip alone never changes membership: a
// member's new addresses are applied only after the member proved its
// node certificate over TLS, and gossip never adds a member (joining
// needs a token). Dead members are removed only when cleanup is on, one
// voter per pass, never below MinVoters, and only while the remaining
// voters still have a live majority.
func (c *Cluster) reconcile(ctx context.Context, m Membership) error {
	members, err := c.cfg.Raft.Members()
	if err != nil {
		return err
	}
	gm := c.gossipMembers()
	for _, rm := range members {
		if rm.ID == c.cfg.NodeID && rm.Addr != c.cfg.Raft.Addr() {
			// The leader itself restarted on a new address (a single node,
			// or one re-elected before anyone fixed it): others must dial
			// the new one in elections.
			add := c.cfg.Raft.AddNonvoter
			if rm.Voter {
				add = c.cfg.Raft.AddVoter
			}
			if err := add(rm.ID, c.cfg.Raft.Addr()); err != nil {
				return err
			}
			c.cfg.Logger.Info("leader moved", "raft", c.cfg.Raft.Addr())
		}
		g, seen := gm[rm.ID]
		if rm.ID == c.cfg.NodeID || !seen || g.Health != gossip.Alive {
			continue
		}
		n, _ := c.cfg.FSM.Node(rm.ID)
		if g.Meta.RaftAddr != rm.Addr || g.Meta.APIAddr != n.APIAddr || g.Addr != n.GossipAddr {
			if err := c.updateAddrs(ctx, rm, g); err != nil {
				c.cfg.Logger.Warn("member's new addresses not applied", "member", rm.ID, "err", err)
			}
		}
	}
	if err := c.maybeFormed(ctx, members); err != nil {
		return err
	}
	for _, id := range cleanupTargets(c.cfg.NodeID, members, gm, c.cfg.Now(), m) {
		if err := c.removeMember(ctx, id); err != nil {
			return err
		}
		c.cfg.Logger.Info("removed a dead member", "member", id)
	}
	return nil
}

// maybeFormed records, once, that a cluster started with
// --bootstrap-expect N has reached N voters; until then nodes serve no KMS
// or IAM calls.
func (c *Cluster) maybeFormed(ctx context.Context, members []raft.Member) error {
	info := c.cfg.FSM.Cluster()
	if info == nil || info.Formed || info.BootstrapExpect <= 1 {
		return nil
	}
	voters := 0
	for _, m := range members {
		if m.Voter {
			voters++
		}
	}
	if voters < info.BootstrapExpect {
		return nil
	}
	if _, _, err := fsm.Apply(ctx, c.cfg.Raft, &fsm.ClusterFormed{}); err != nil {
		return err
	}
	c.cfg.Logger.Info("cluster formed", "voters", voters)
	return nil
}

// Forming reports whether the cluster was started with --bootstrap-expect
// and has not yet had that many voters, and how many it waits for.
func (c *Cluster) Forming() (bool, int) {
	info := c.cfg.FSM.Cluster()
	if info == nil || info.Formed || info.BootstrapExpect <= 1 {
		return false, 0
	}
	return true, info.BootstrapExpect
}

// cleanupTargets returns the members dead-server cleanup removes now:
// every non-voter, and at most one voter, that gossip has reported dead or
// left for longer than m.DeadServerCleanup. A voter goes only if at least
// m.MinVoters remain and the remaining voters still have a live majority
// (self, the leader, counts as alive; a member gossip does not know is
// not alive, and is not removed either).
func cleanupTargets(self string, members []raft.Member, gm map[string]gossip.Member, now time.Time, m Membership) []string {
	if m.DeadServerCleanup <= 0 {
		return nil
	}
	voters, aliveVoters := 0, 0
	var out []string
	deadVoter := ""
	for _, rm := range members {
		g, seen := gm[rm.ID]
		alive := rm.ID == self || seen && g.Health == gossip.Alive
		if rm.Voter {
			voters++
			if alive {
				aliveVoters++
			}
		}
		if rm.ID == self || !seen || (g.Health != gossip.Dead && g.Health != gossip.Left) || now.Sub(g.Since) <= m.DeadServerCleanup {
			continue
		}
		switch {
		case !rm.Voter:
			out = append(out, rm.ID)
		case deadVoter == "":
			deadVoter = rm.ID
		}
	}
	if deadVoter != "" && voters-1 >= m.MinVoters && aliveVoters >= (voters-1)/2+1 {
		out = append(out, deadVoter)
	}
	return out
}

// updateAddrs applies a member's new addresses once the member has proved,
// over TLS with its node certificate, that it is rm.ID and where it is.
func (c *Cluster) updateAddrs(ctx context.Context, rm raft.Member, g gossip.Member) error {
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	self, err := c.verifyMember(vctx, rm.ID, g.Meta.APIAddr)
	cancel()
	if err != nil {
		return err
	}
	if self.RaftAddr != rm.Addr {
		add := c.cfg.Raft.AddNonvoter
		if rm.Voter {
			add = c.cfg.Raft.AddVoter
		}
		if err := add(rm.ID, self.RaftAddr); err != nil { // same id: raft updates the address
			return err
		}
		c.cfg.Logger.Info("member moved", "member", rm.ID, "raft", self.RaftAddr)
	}
	want := fsm.NodeInfo{ID: rm.ID, RaftAddr: self.RaftAddr, APIAddr: self.ApiAddr, GossipAddr: self.GossipAddr}
	if n, _ := c.cfg.FSM.Node(rm.ID); n != want {
		if _, _, err := fsm.Apply(ctx, c, &fsm.RegisterNode{Node: want}); err != nil {
			return err
		}
	}
	return nil
}

// errWrongNode is returned when the certificate at a member's claimed
// address is not that member's node certificate.
var errWrongNode = errors.New("cluster: the peer's certificate does not name the claimed node")

// verifyMember dials apiAddr with this node's certificate, accepting only
// a node certificate for id (a client certificate, or another node's,
// fails the handshake), and returns what that node reports about itself.
func (c *Cluster) verifyMember(ctx context.Context, id, apiAddr string) (*clusterv1.NodeStatus, error) {
	if !validAddr(apiAddr) {
		return nil, fmt.Errorf("cluster: %s claims no valid API address", id)
	}
	cfg := c.cfg.PeerTLSFunc().Clone()
	base := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if base != nil {
			if err := base(cs); err != nil {
				return err
			}
		}
		if len(cs.VerifiedChains) == 0 {
			return errWrongNode
		}
		if got, err := identity.NodeIDFromCert(cs.VerifiedChains[0][0]); err != nil || got != id {
			return errWrongNode
		}
		return nil
	}
	tr := &http.Transport{DialTLSContext: dialTLS(c.cfg.Dial, func() *tls.Config { return cfg }), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	cl := clusterv1connect.NewClusterServiceClient(&http.Client{Transport: tr}, "https://"+apiAddr)
	st, err := cl.Status(ctx, &clusterv1.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("cluster: verify %s at %s: %w", id, apiAddr, err)
	}
	if st.GetSelf().GetId() != id || !validAddr(st.GetSelf().GetRaftAddr()) {
		return nil, fmt.Errorf("cluster: %s at %s reports itself as %q", id, apiAddr, st.GetSelf().GetId())
	}
	return st.GetSelf(), nil
}

// ErrNotMember means the node to remove is not in the cluster.
var ErrNotMember = errors.New("cluster: not a member")

// ErrLastVoter means removing the node would leave no voter.
var ErrLastVoter = errors.New("cluster: cannot remove the last voter")

// RemoveMember removes a member from the member table and the raft
// configuration. It must run on the leader.
func (c *Cluster) RemoveMember(ctx context.Context, id string) error {
	members, err := c.cfg.Raft.Members()
	if err != nil {
		return err
	}
	found, voters, isVoter := false, 0, false
	for _, m := range members {
		if m.Voter {
			voters++
		}
		if m.ID == id {
			found, isVoter = true, m.Voter
		}
	}
	if _, inTable := c.cfg.FSM.Node(id); !found && !inTable {
		return ErrNotMember
	}
	if isVoter && voters == 1 {
		return ErrLastVoter
	}
	return c.removeMember(ctx, id)
}

// removeMember forgets the member's addresses and revokes its node
// certificates, then removes it from raft (a leader removing itself steps
// down once that commits). Once the configuration no longer has it, the
// raft transport refuses and drops its connections (see package raft).
//
// Then it replaces the gossip key, which the removed node holds: every
// member switches to the new one (the server watches for it), and the
// removed node, which no longer gets the log, is cut off from gossip. (In
// RemoveNode, which the node still receives, the key would reach it.) If
// this fails, the member is removed all the same; the next removal
// replaces the key.
func (c *Cluster) removeMember(ctx context.Context, id string) error {
	if _, _, err := fsm.Apply(ctx, c.cfg.Raft, &fsm.RemoveNode{ID: id, Now: c.cfg.Now().UnixMilli()}); err != nil {
		return err
	}
	if err := c.cfg.Raft.RemoveServer(id); err != nil {
		return err
	}
	if err := c.replaceGossipKey(ctx); err != nil {
		c.cfg.Logger.Warn("member removed, but the gossip key was not replaced", "member", id, "err", err)
	}
	// The removed node's HSM holds the domain key: rotate it (rotation
	// replaces the gossip key once more, under the new key).
	if _, err := c.StartDomainRotation(ctx, "remove "+id); err != nil {
		c.cfg.Logger.Warn("member removed, but the domain-key rotation did not start; run trent cluster rotate-domain-key",
			"member", id, "err", err)
	}
	return nil
}

// replaceGossipKey proposes a new gossip key, if the cluster has one.
func (c *Cluster) replaceGossipKey(ctx context.Context) error {
	info := c.cfg.FSM.Cluster()
	if info == nil || info.GossipKey == nil {
		return nil
	}
	sk, err := SealGossipKey(ctx, c.cfg.HSM, c.cfg.Rand, info.ID)
	if err != nil {
		return err
	}
	_, _, err = fsm.Apply(ctx, c.cfg.Raft, &fsm.SetGossipKey{Key: sk, Replace: true})
	return err
}

func (s *service) RotateDomainKey(ctx context.Context, req *clusterv1.RotateDomainKeyRequest) (*clusterv1.RotateDomainKeyResponse, error) {
	// A follower forwards an admin's call with its node certificate.
	if _, err := s.memberNode(ctx); err != nil {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
	}
	if !s.c.cfg.Raft.IsLeader() {
		cl, _, err := s.c.leaderClient()
		if err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, err)
		}
		return cl.RotateDomainKey(ctx, req)
	}
	r, err := s.c.StartDomainRotation(ctx, ReasonOnDemand)
	var rej *fsm.Rejection
	switch {
	case errors.Is(err, ErrRotationBusy), errors.Is(err, ErrRotationUnsupported):
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.As(err, &rej):
		return nil, rejectionError(rej)
	case errors.Is(err, raft.ErrNotLeader):
		return nil, notLeader()
	case err != nil:
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return &clusterv1.RotateDomainKeyResponse{Rotation: rotationStatus(r)}, nil
}

func (s *service) RemoveNode(ctx context.Context, req *clusterv1.RemoveNodeRequest) (*clusterv1.RemoveNodeResponse, error) {
	// A follower forwards an admin's call with its node certificate.
	if _, err := s.memberNode(ctx); err != nil {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
	}
	if !identity.ValidNodeID(req.GetNodeId()) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("node_id is not a valid node id"))
	}
	if !s.c.cfg.Raft.IsLeader() {
		cl, _, err := s.c.leaderClient()
		if err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, err)
		}
		return cl.RemoveNode(ctx, req)
	}
	err := s.c.RemoveMember(ctx, req.GetNodeId())
	switch {
	case errors.Is(err, ErrNotMember):
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s is not a member", req.GetNodeId()))
	case errors.Is(err, ErrLastVoter):
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, raft.ErrNotLeader):
		return nil, notLeader()
	case err != nil:
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	s.c.cfg.Logger.Info("member removed", "member", req.GetNodeId())
	return &clusterv1.RemoveNodeResponse{}, nil
}
