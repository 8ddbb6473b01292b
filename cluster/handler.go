package cluster

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/gossip"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/raft"
	"github.com/trentkms/trent/wire"
)

const nodeCertTTL = 365 * 24 * time.Hour

type tlsKey struct{}

// Handler returns the path and handler of the ClusterService. Callers are
// identified per method from the TLS connection: node certificates for
// node-to-node calls, the admin account's root for admin calls, a join
// token for Join.
func (c *Cluster) Handler(adminAccount string, opts ...connect.HandlerOption) (string, http.Handler) {
	path, h := clusterv1connect.NewClusterServiceHandler(&service{c: c, admin: adminAccount}, opts...)
	return path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tlsKey{}, r.TLS)))
	})
}

type service struct {
	c     *Cluster
	admin string
}

var _ clusterv1connect.ClusterServiceHandler = (*service)(nil)

// peerNode returns the id of the calling node, which must present a node
// certificate.
func peerNode(ctx context.Context) (string, error) {
	cs, _ := ctx.Value(tlsKey{}).(*tls.ConnectionState)
	if cs == nil || len(cs.VerifiedChains) == 0 {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("a node certificate is required"))
	}
	id, err := identity.NodeIDFromCert(cs.VerifiedChains[0][0])
	if err != nil {
		return "", connect.NewError(connect.CodePermissionDenied, errors.New("only cluster nodes may call this"))
	}
	return id, nil
}

// memberNode is peerNode for calls that change or order state (forwarded
// writes, read indexes, promotion, removal): the node must also be a
// member. A removed node keeps its certificate (revoked by RemoveNode, but
// the deny list is the API gate's to consult), so membership is what
// stops it. The member table is checked first; a node missing from it
// (this node's state may still be replaying after a restart) is looked up
// in the raft configuration, which is current from the start.
func (s *service) memberNode(ctx context.Context) (string, error) {
	id, err := peerNode(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := s.c.cfg.FSM.Node(id); ok {
		return id, nil
	}
	if members, err := s.c.cfg.Raft.Members(); err == nil {
		for _, m := range members {
			if m.ID == id {
				return id, nil
			}
		}
	}
	return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("node %s is not a member of this cluster", id))
}

func (s *service) requireAdmin(ctx context.Context) error {
	cs, _ := ctx.Value(tlsKey{}).(*tls.ConnectionState)
	p, err := identity.PrincipalFromTLS(cs)
	if err != nil {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("an admin client certificate is required"))
	}
	if !p.IsRoot() || p.Account != s.admin {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s may not administer the cluster", p.ARN))
	}
	return nil
}

func notLeader() error {
	return connect.NewError(connect.CodeFailedPrecondition, errors.New("not the leader"))
}

// propose replicates cmd through the leader. A refusal at apply time
// becomes a connect error with the code of rejectionCodes.
func (s *service) propose(ctx context.Context, cmd fsm.Command) (*fsm.Result, error) {
	return propose(ctx, s.c, cmd)
}

func propose(ctx context.Context, log fsm.Log, cmd fsm.Command) (*fsm.Result, error) {
	r, _, err := fsm.Apply(ctx, log, cmd)
	var rej *fsm.Rejection
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &rej):
		return nil, rejectionError(rej)
	case errors.Is(err, fsm.ErrMalformedCommand), errors.Is(err, fsm.ErrUnexpectedResponse):
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return nil, connect.NewError(connect.CodeUnavailable, err)
}

// rejectionCodes are the connect codes of the state machine's refusals
// of the cluster commands, by rejection type. Join relies on
// PermissionDenied meaning the state machine's verdict on the token.
var rejectionCodes = map[string]connect.Code{
	wire.AccessDenied:    connect.CodePermissionDenied, // ConsumeJoinToken: the token is not valid, used or expired
	wire.Validation:      connect.CodeInvalidArgument,  // RegisterNode: a malformed certificate serial
	wire.KMSInvalidState: connect.CodeFailedPrecondition,
	wire.NotFound:        connect.CodeNotFound,
	wire.AlreadyExists:   connect.CodeAlreadyExists,
	wire.KMSInternal:     connect.CodeInternal,           // AddJoinToken: a token id collision
	wire.Conflict:        connect.CodeFailedPrecondition, // RotateCA: a rotation is in its overlap
}

// rejectionError translates a command refused at apply time; a type
// rejectionCodes does not list is an internal error.
func rejectionError(r *fsm.Rejection) error {
	code, ok := rejectionCodes[r.Type]
	if !ok {
		code = connect.CodeInternal
	}
	return connect.NewError(code, errors.New(r.Message))
}

func (s *service) CreateJoinToken(ctx context.Context, req *clusterv1.CreateJoinTokenRequest) (*clusterv1.CreateJoinTokenResponse, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	switch {
	case ttl == 0:
		ttl = time.Hour
	case ttl < 0 || ttl > 24*time.Hour:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("ttl must be between 1 second and 24 hours"))
	}
	info := s.c.cfg.FSM.Cluster()
	if info == nil {
		return nil, connect.NewError(connect.CodeUnavailable, ErrNotInitialized)
	}
	// The token pins the CA whose certificates the members present now
	// (during a CA rotation, the old one until the switch).
	block, err := identity.ParseCertPEM(info.PresentedCA(s.c.cfg.Now()))
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("cluster CA unreadable"))
	}
	t := JoinToken{Secret: make([]byte, 32), CAFingerprint: sha256.Sum256(block.Raw)}
	idb := make([]byte, 8)
	if _, err := s.c.cfg.Rand.Read(idb); err != nil {
		return nil, err
	}
	if _, err := s.c.cfg.Rand.Read(t.Secret); err != nil {
		return nil, err
	}
	t.ID = fmt.Sprintf("%x", idb)
	expires := s.c.cfg.Now().Add(ttl)
	if _, err := s.propose(ctx, &fsm.AddJoinToken{
		Token: fsm.JoinToken{ID: t.ID, Hash: t.Hash(), ExpiresAt: expires.UnixMilli()}}); err != nil {
		return nil, err
	}
	return &clusterv1.CreateJoinTokenResponse{Token: t.String(), ExpiresAt: float64(expires.UnixMilli()) / 1000}, nil
}

// errJoinUnavailable answers a join that failed inside the cluster. Join
// callers are unauthenticated, so the detail (raft, CA and HSM errors,
// peer addresses) goes to the log, never to them.
var errJoinUnavailable = errors.New("the cluster cannot admit a node now; retry later")

// joinFailed logs why a join failed and returns the generic answer.
func (s *service) joinFailed(ctx context.Context, joiner, step string, err error) error {
	s.c.cfg.Logger.WarnContext(ctx, "join failed", "joiner", joiner, "step", step, "err", err)
	return connect.NewError(connect.CodeUnavailable, errJoinUnavailable)
}

// errJoinSpent answers a join that failed after its token was spent:
// asking again with the same token cannot pass, so it is not retryable.
var errJoinSpent = errors.New("the cluster spent the join token but could not admit the node; make a new token and join again")

// spentJoinFailed is joinFailed for a failure after the token was spent.
func (s *service) spentJoinFailed(ctx context.Context, joiner, step string, err error) error {
	s.c.cfg.Logger.WarnContext(ctx, "join failed after its token was spent", "joiner", joiner, "step", step, "err", err)
	return connect.NewError(connect.CodeFailedPrecondition, errJoinSpent)
}

// parseJoinRequest checks a Join request before anything acts on it: the
// token's form, the node id, the addresses and the CSR's signature. It is
// what an unauthenticated caller's request meets first.
func parseJoinRequest(req *clusterv1.JoinRequest) (JoinToken, *x509.CertificateRequest, error) {
	bad := func(msg string) error { return connect.NewError(connect.CodeInvalidArgument, errors.New(msg)) }
	t, err := ParseJoinToken(req.GetToken())
	if err != nil {
		return t, nil, connect.NewError(connect.CodePermissionDenied, errors.New("the join token is not valid"))
	}
	switch {
	case !identity.ValidNodeID(req.GetNodeId()):
		return t, nil, bad("node_id is not a valid node id")
	case !validAddr(req.GetRaftAddr()) || !validAddr(req.GetApiAddr()):
		return t, nil, bad("raft_addr and api_addr must be host:port")
	case len(req.GetHsmIdentity()) == 0:
		return t, nil, bad("hsm_identity is required")
	}
	csr, err := x509.ParseCertificateRequest(req.GetCsr())
	if err != nil || csr.CheckSignature() != nil {
		return t, nil, bad("csr is not a valid, self-signed certificate request")
	}
	return t, csr, nil
}

func (s *service) Join(ctx context.Context, req *clusterv1.JoinRequest) (*clusterv1.JoinResponse, error) {
	t, csr, err := parseJoinRequest(req)
	if err != nil {
		return nil, err
	}
	joiner := req.GetNodeId()
	if !s.c.cfg.Raft.IsLeader() {
		return s.c.forwardJoin(ctx, req)
	}
	members, err := s.c.cfg.Raft.Members()
	if err != nil {
		return nil, s.joinFailed(ctx, joiner, "read the configuration", err)
	}
	for _, m := range members {
		if m.ID == req.GetNodeId() || m.Addr == req.GetRaftAddr() {
			return nil, connect.NewError(connect.CodeAlreadyExists,
				fmt.Errorf("a member with node id %s or raft address %s exists; remove it first", req.GetNodeId(), req.GetRaftAddr()))
		}
	}
	// The CA opens first: a leader whose HSM is sealed (a sealed start)
	// refuses as retryable without spending the token.
	ca, err := s.c.CA(ctx)
	if err != nil {
		return nil, s.joinFailed(ctx, joiner, "open the cluster CA", err)
	}
	// Spend the token next: whatever happens then, it worked at most once.
	if _, err := s.propose(ctx, &fsm.ConsumeJoinToken{
		ID: t.ID, Hash: t.Hash(), Now: s.c.cfg.Now().UnixMilli()}); err != nil {
		if connect.CodeOf(err) == connect.CodePermissionDenied {
			return nil, err // the state machine's verdict on the token: invalid, used, expired
		}
		return nil, s.joinFailed(ctx, joiner, "spend the join token", err)
	}
	hosts := append(identity.LoopbackHosts(), hostOf(req.GetRaftAddr()), hostOf(req.GetApiAddr()))
	cert, err := ca.IssueNode(req.GetNodeId(), dedupe(hosts), csr.PublicKey, s.c.cfg.Now(), cmp.Or(s.c.cfg.NodeCertTTL, nodeCertTTL))
	if err != nil {
		s.c.cfg.Logger.WarnContext(ctx, "join refused", "joiner", joiner, "step", "issue the node certificate", "err", err)
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("cannot issue a node certificate: the CSR's key or the addresses' hosts are not acceptable"))
	}
	domain, err := s.c.cfg.HSM.ExportDomain(ctx, req.GetHsmIdentity(), []byte(req.GetNodeId()))
	if err != nil {
		s.c.cfg.Logger.WarnContext(ctx, "join refused", "joiner", joiner, "step", "seal the domain key", "err", err)
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("cannot seal the domain key to hsm_identity"))
	}
	leaf, err := x509.ParseCertificate(cert)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("cannot read the issued node certificate"))
	}
	// The serial is recorded so that removing the node revokes it.
	if _, err := s.propose(ctx, &fsm.RegisterNode{Node: fsm.NodeInfo{
		ID: req.GetNodeId(), RaftAddr: req.GetRaftAddr(), APIAddr: req.GetApiAddr()},
		CertSerial: leaf.SerialNumber.Text(16)}); err != nil {
		return nil, s.spentJoinFailed(ctx, joiner, "register the node", err)
	}
	if err := s.c.cfg.Raft.AddNonvoter(req.GetNodeId(), req.GetRaftAddr()); err != nil {
		return nil, s.spentJoinFailed(ctx, joiner, "add the non-voter", err)
	}
	info := s.c.cfg.FSM.Cluster()
	s.c.cfg.Logger.Info("node joined as non-voter", "joiner", req.GetNodeId(), "raft", req.GetRaftAddr())
	now := s.c.cfg.Now()
	return &clusterv1.JoinResponse{NodeCertificate: cert, CaCertificate: info.PresentedCA(now), DomainToken: domain,
		Region: info.Region, ClusterId: info.ID, CaBundle: bytes.Join(info.TrustedCAs(now), nil)}, nil
}

func (s *service) Promote(ctx context.Context, _ *clusterv1.PromoteRequest) (*clusterv1.PromoteResponse, error) {
	id, err := s.memberNode(ctx)
	if err != nil {
		return nil, err
	}
	if !s.c.cfg.Raft.IsLeader() {
		return nil, notLeader()
	}
	members, err := s.c.cfg.Raft.Members()
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	for _, m := range members {
		if m.ID != id {
			continue
		}
		if m.Voter {
			return &clusterv1.PromoteResponse{}, nil
		}
		if err := s.c.cfg.Raft.AddVoter(m.ID, m.Addr); err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, err)
		}
		s.c.cfg.Logger.Info("node promoted to voter", "member", id)
		s.c.Kick() // a cluster forming with --bootstrap-expect may be complete
		return &clusterv1.PromoteResponse{}, nil
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s is not a member", id))
}

func (s *service) Apply(ctx context.Context, req *clusterv1.ApplyRequest) (*clusterv1.ApplyResponse, error) {
	if _, err := s.memberNode(ctx); err != nil {
		return nil, err
	}
	resp, idx, err := s.c.cfg.Raft.Apply(ctx, req.GetCommand())
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return nil, notLeader() // nothing was appended: the follower may retry
	case err != nil:
		// Lost leadership, shutdown or a timeout after the command was
		// handed to raft: it may still commit.
		return nil, connect.NewError(connect.CodeAborted, err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return &clusterv1.ApplyResponse{Result: b, Index: idx}, nil
}

func (s *service) ReadIndex(ctx context.Context, _ *clusterv1.ReadIndexRequest) (*clusterv1.ReadIndexResponse, error) {
	if _, err := s.memberNode(ctx); err != nil {
		return nil, err
	}
	idx, err := s.c.cfg.Raft.ReadIndex(ctx)
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return nil, notLeader()
	case err != nil:
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return &clusterv1.ReadIndexResponse{Index: idx}, nil
}

func (s *service) Status(ctx context.Context, _ *clusterv1.StatusRequest) (*clusterv1.StatusResponse, error) {
	if _, err := peerNode(ctx); err != nil {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
	}
	return s.c.Status(ctx)
}

// Status returns this node's view of the membership (health from its
// gossip), and itself with its own addresses, term and indexes.
func (c *Cluster) Status(ctx context.Context) (*clusterv1.StatusResponse, error) {
	members, err := c.cfg.Raft.Members()
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	leader, _ := c.cfg.Raft.Leader()
	gm := c.gossipMembers()
	out := &clusterv1.StatusResponse{Self: c.self(ctx)}
	if info := c.cfg.FSM.Cluster(); info != nil {
		if ca, err := identity.ParseCertPEM(info.CACert); err == nil {
			out.CaNotAfter = ca.NotAfter.UTC().Format(time.RFC3339)
		}
		for _, p := range info.PreviousCAs {
			if now := c.cfg.Now(); now.UnixMilli() < p.Until {
				out.CaSwitchAt = time.UnixMilli(p.SwitchAt).UTC().Format(time.RFC3339)
				out.CaPreviousUntil = time.UnixMilli(p.Until).UTC().Format(time.RFC3339)
			}
		}
	}
	if p, ok := c.cfg.FSM.Propagation(); ok {
		out.Propagation = propagationStatus(p)
	}
	out.DomainRotation = rotationStatus(c.cfg.FSM.DomainRotation())
	for _, m := range members {
		ns := &clusterv1.NodeStatus{Id: m.ID, RaftAddr: m.Addr, Voter: m.Voter, Role: "follower", Health: "unknown"}
		if m.ID == leader {
			ns.Role = "leader"
		}
		if n, ok := c.cfg.FSM.Node(m.ID); ok {
			ns.ApiAddr, ns.GossipAddr = n.APIAddr, n.GossipAddr
		}
		if g, ok := gm[m.ID]; ok {
			ns.Health = string(g.Health)
		}
		if m.ID == c.cfg.NodeID {
			ns.Voter = m.Voter
			ns.Term, ns.AppliedIndex, ns.CommitIndex, ns.LastContact = out.Self.Term, out.Self.AppliedIndex, out.Self.CommitIndex, out.Self.LastContact
			ns.Sealed = out.Self.Sealed
			out.Self.Voter = m.Voter
		}
		out.Nodes = append(out.Nodes, ns)
	}
	return out, nil
}

// self describes this node as it is now.
func (c *Cluster) self(ctx context.Context) *clusterv1.NodeStatus {
	ns := &clusterv1.NodeStatus{Id: c.cfg.NodeID, RaftAddr: c.cfg.Raft.Addr(), ApiAddr: c.cfg.APIAddr,
		Role: strings.ToLower(c.cfg.Raft.State()), Term: c.cfg.Raft.Term(),
		AppliedIndex: c.cfg.FSM.AppliedIndex(), CommitIndex: c.cfg.Raft.CommitIndex(), Health: "unknown"}
	if g := c.gossipNow(); g != nil {
		ns.GossipAddr, ns.Health = g.Addr(), string(gossip.Alive)
	}
	if lc := c.cfg.Raft.LastContact(); !lc.IsZero() && !c.cfg.Raft.IsLeader() {
		ns.LastContact = c.cfg.Now().Sub(lc).Round(time.Millisecond).String()
	}
	if c.cfg.NodeCert != nil {
		if cert := c.cfg.NodeCert(); cert != nil {
			ns.CertNotAfter = cert.NotAfter.UTC().Format(time.RFC3339)
		}
	}
	if c.cfg.Propagation != nil {
		if d, src := c.cfg.Propagation(); d > 0 {
			ns.SimulatedPropagation, ns.SimulatedPropagationSource = d.String(), src
		}
	}
	// Sealed: the HSM cannot open the replicated CA key.
	if _, err := c.CA(ctx); err != nil && !errors.Is(err, ErrNotInitialized) {
		ns.Sealed = true
	}
	return ns
}

func validAddr(a string) bool {
	h, p, err := net.SplitHostPort(a)
	return err == nil && h != "" && p != ""
}

func hostOf(a string) string {
	h, _, _ := net.SplitHostPort(a)
	return h
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
