package fsm

import (
	"crypto/subtle"
	"errors"
	"slices"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// ClusterInfo identifies the cluster. It is set once, by the node that
// bootstraps the cluster.
type ClusterInfo struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	// CACert is the cluster CA certificate (PEM).
	CACert []byte `json:"ca_cert"`
	// The CA private key, sealed by an HSM under an internal key whose
	// material is itself an EKT, so any node holding the domain key can
	// use the CA and none can read it from the log or a snapshot.
	CAKeyID      string `json:"ca_key_id"`      // hex
	CAKeyVersion string `json:"ca_key_version"` // hex
	CAKeyEKT     []byte `json:"ca_key_ekt"`
	CAKeyNonce   []byte `json:"ca_key_nonce"`
	CAKeySealed  []byte `json:"ca_key_sealed"`
	// GossipKey is the key that encrypts gossip (memberlist), sealed the
	// same way; nil until the first node that starts gossip sets it.
	GossipKey *SealedSecret `json:"gossip_key,omitempty"`
	// BootstrapExpect is the voter count the cluster was started to form
	// (node --bootstrap-expect); until Formed, nodes serve no KMS or IAM
	// calls, so no write is acknowledged by fewer nodes than intended.
	BootstrapExpect int `json:"bootstrap_expect,omitempty"`
	// Formed is set once, when the cluster first had BootstrapExpect voters.
	Formed bool `json:"formed,omitempty"`
	// PreviousCAs are the CAs that rotations replaced and that are still
	// trusted, or were until recently (see RotateCA).
	PreviousCAs []PreviousCA `json:"previous_cas,omitempty"`
	// Propagation is the cluster-wide simulated propagation delay
	// (SetPropagation), nil when there is none.
	Propagation *Propagation `json:"propagation,omitempty"`
}

// SealedSecret is a cluster secret sealed by an HSM under an internal key
// whose material is an EKT (so any node holding the domain key can open
// it, and neither the log nor a snapshot reveals it).
type SealedSecret struct {
	KeyID   string `json:"key_id"`  // hex
	Version string `json:"version"` // hex
	EKT     []byte `json:"ekt"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`
}

// NodeInfo is one member's addresses.
type NodeInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// GossipAddr is the member's gossip (memberlist) address, if it runs
	// gossip.
	GossipAddr string `json:"gossip_addr,omitempty"`
}

// JoinToken is a one-time join token: only a hash of its secret is kept.
type JoinToken struct {
	ID        string `json:"id"`
	Hash      []byte `json:"hash"`
	ExpiresAt int64  `json:"expires_at"` // Unix milliseconds
	Used      bool   `json:"used,omitempty"`
}

// InitCluster sets the cluster's identity, once.
type InitCluster struct {
	Info ClusterInfo `json:"info"`
}

func (*InitCluster) Op() Op { return OpInitCluster }

func (c *InitCluster) validate() error {
	if c.Info.ID == "" {
		return errors.New("no cluster id")
	}
	return nil
}

func (c *InitCluster) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if cs.info != nil {
		if cs.info.ID == c.Info.ID {
			return &Result{}
		}
		return &Result{Err: reject(wire.KMSInvalidState, "the cluster is already initialized")}
	}
	info := c.Info
	cs.info = &info
	return &Result{}
}

// RegisterNode records or updates a member's addresses.
type RegisterNode struct {
	Node NodeInfo `json:"node"`
	// CertSerial, if set, is the serial (lowercase hex, as
	// big.Int.Text(16) writes it) of a node certificate issued to Node.ID:
	// the leader sets it when Join issues one, and a node sets its own when
	// it finds it missing (the first node's certificate is issued locally).
	// It is kept until RemoveNode revokes it. Without it, nothing changes
	// but the addresses.
	CertSerial string `json:"cert_serial,omitempty"`
}

func (*RegisterNode) Op() Op { return OpRegisterNode }

func (c *RegisterNode) validate() error {
	if c.Node.ID == "" {
		return errors.New("no node id")
	}
	return nil
}

func (c *RegisterNode) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if sn := c.CertSerial; sn != "" && !validSerial(sn) {
		return &Result{Err: reject(wire.Validation, "A certificate serial is lowercase hex.")}
	}
	cs.nodes[c.Node.ID] = c.Node
	if sn := c.CertSerial; sn != "" {
		cs.addCert(c.Node.ID, sn)
	}
	return &Result{}
}

// RemoveNode forgets a member's addresses (trent cluster remove, dead
// server cleanup) and puts every certificate serial recorded for it on the
// deny list; the leader removes it from the raft configuration. The
// member's id stays usable: a wiped node may join again under it, with a
// new certificate.
type RemoveNode struct {
	ID string `json:"id"`
	// Now is the proposer's clock (Unix milliseconds), the revocation time
	// of the member's certificates. Zero in commands from before node
	// certificates were recorded.
	Now int64 `json:"now,omitempty"`
}

func (*RemoveNode) Op() Op { return OpRemoveNode }

func (c *RemoveNode) validate() error {
	if c.ID == "" {
		return errors.New("no node id")
	}
	return nil
}

func (c *RemoveNode) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	delete(cs.nodes, c.ID)
	// The removed member's certificates stay valid until they expire:
	// revoke them, so that neither the API nor the cluster service
	// takes them again (a rejoin gets a new certificate).
	for _, sn := range cs.certs[c.ID] {
		rc := RevokedCert{Serial: sn, Principal: identity.NodeURI(c.ID), RevokedAt: c.Now}
		if _, ok := f.authz.revoked.Get(&rc); !ok {
			f.authz.revoked.ReplaceOrInsert(&rc)
		}
	}
	delete(cs.certs, c.ID)
	return &Result{}
}

// NodeCert is one recorded node certificate: a snapshot record.
type NodeCert struct {
	NodeID string `json:"node_id"`
	Serial string `json:"serial"`
}

// ClusterFormed records that the cluster reached its BootstrapExpect
// voters. It is a latch: it never unsets.
type ClusterFormed struct{}

func (*ClusterFormed) Op() Op          { return OpClusterFormed }
func (*ClusterFormed) validate() error { return nil }

func (*ClusterFormed) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if cs.info == nil {
		return &Result{Err: reject(wire.KMSInvalidState, "the cluster is not initialized")}
	}
	if !cs.info.Formed {
		info := *cs.info
		info.Formed = true
		cs.info = &info
	}
	return &Result{}
}

// SetGossipKey sets the cluster's sealed gossip key, once unless Replace
// is set: a second proposal (two nodes racing on an older cluster)
// changes nothing, and every node then uses the key the log kept.
type SetGossipKey struct {
	Key SealedSecret `json:"key"`
	// Replace replaces the key the cluster has: the leader proposes it
	// after it removed a member, which holds the old key and, no longer in
	// the configuration, never sees the new one. Every member switches.
	Replace bool `json:"replace,omitempty"`
}

func (*SetGossipKey) Op() Op { return OpSetGossipKey }

func (c *SetGossipKey) validate() error {
	if len(c.Key.Sealed) == 0 {
		return errors.New("no sealed key")
	}
	return nil
}

func (c *SetGossipKey) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if cs.info == nil {
		return &Result{Err: reject(wire.KMSInvalidState, "the cluster is not initialized")}
	}
	if cs.info.GossipKey != nil && !c.Replace {
		return &Result{}
	}
	if rej := f.retiredEKT(c.Key.EKT); rej != nil {
		return &Result{Err: rej}
	}
	info := *cs.info
	k := c.Key
	info.GossipKey = &k
	cs.info = &info
	return &Result{}
}

// AddJoinToken records a new join token.
type AddJoinToken struct {
	Token JoinToken `json:"token"`
}

func (*AddJoinToken) Op() Op { return OpAddJoinToken }

func (c *AddJoinToken) validate() error {
	if c.Token.ID == "" {
		return errors.New("no token id")
	}
	return nil
}

func (c *AddJoinToken) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if _, dup := cs.tokens[c.Token.ID]; dup {
		return &Result{Err: reject(wire.KMSInternal, "join token id collision")}
	}
	cs.tokens[c.Token.ID] = c.Token
	return &Result{}
}

// ConsumeJoinToken spends a join token: it succeeds once, for the right
// secret, before the token expires (Now is the proposer's clock).
type ConsumeJoinToken struct {
	ID   string `json:"id"`
	Hash []byte `json:"hash"`
	Now  int64  `json:"now"`
}

func (*ConsumeJoinToken) Op() Op          { return OpConsumeJoinToken }
func (*ConsumeJoinToken) validate() error { return nil }

func (c *ConsumeJoinToken) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	t, ok := cs.tokens[c.ID]
	switch {
	case !ok || subtle.ConstantTimeCompare(t.Hash, c.Hash) != 1:
		return &Result{Err: reject(wire.AccessDenied, "the join token is not valid")}
	case t.Used:
		return &Result{Err: reject(wire.AccessDenied, "the join token was already used")}
	case c.Now >= t.ExpiresAt:
		return &Result{Err: reject(wire.AccessDenied, "the join token has expired")}
	}
	t.Used = true
	cs.tokens[t.ID] = t
	// Forget spent and expired tokens so the table stays small.
	for id, o := range cs.tokens {
		if id != t.ID && (o.Used || c.Now >= o.ExpiresAt) {
			delete(cs.tokens, id)
		}
	}
	return &Result{}
}

// clusterState is the FSM's cluster table. Apply replaces values; it never
// edits a published one.
type clusterState struct {
	info   *ClusterInfo
	nodes  map[string]NodeInfo
	tokens map[string]JoinToken
	// certs holds the serials of each member's node certificates, sorted;
	// a published slice is never modified.
	certs map[string][]string
	// rotation is the latest domain-key rotation (domainkey.go).
	rotation *DomainRotation
}

func newClusterState() *clusterState {
	return &clusterState{nodes: map[string]NodeInfo{}, tokens: map[string]JoinToken{}, certs: map[string][]string{}}
}

func (c *clusterState) clone() *clusterState {
	n := &clusterState{info: c.info, rotation: c.rotation, nodes: make(map[string]NodeInfo, len(c.nodes)), tokens: make(map[string]JoinToken, len(c.tokens)),
		certs: make(map[string][]string, len(c.certs))}
	for k, v := range c.nodes {
		n.nodes[k] = v
	}
	for k, v := range c.tokens {
		n.tokens[k] = v
	}
	for k, v := range c.certs {
		n.certs[k] = v
	}
	return n
}

// addCert records serial for node id, once.
func (c *clusterState) addCert(id, serial string) {
	old := c.certs[id]
	i, found := slices.BinarySearch(old, serial)
	if found {
		return
	}
	c.certs[id] = slices.Insert(slices.Clone(old), i, serial)
}

// Cluster returns the cluster's identity, or nil before it is initialized.
func (f *FSM) Cluster() *ClusterInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster.info
}

// Node returns a member's addresses.
func (f *FSM) Node(id string) (NodeInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.cluster.nodes[id]
	return n, ok
}

// NodeCerts returns the serials of the node certificates recorded for a
// member, sorted.
func (f *FSM) NodeCerts(id string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.cluster.certs[id])
}

// Nodes returns every member's addresses.
func (f *FSM) Nodes() []NodeInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]NodeInfo, 0, len(f.cluster.nodes))
	for _, n := range f.cluster.nodes {
		out = append(out, n)
	}
	return out
}

// writeCluster writes the cluster records of a snapshot.
func (s *Snapshot) writeCluster(enc interface{ Encode(any) error }) error {
	if s.cluster.info != nil {
		if err := enc.Encode(snapshotRecord{Cluster: s.cluster.info}); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(s.cluster.nodes) {
		n := s.cluster.nodes[id]
		if err := enc.Encode(snapshotRecord{Node: &n}); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(s.cluster.certs) {
		for _, sn := range s.cluster.certs[id] {
			if err := enc.Encode(snapshotRecord{NodeCert: &NodeCert{NodeID: id, Serial: sn}}); err != nil {
				return err
			}
		}
	}
	for _, id := range sortedKeys(s.cluster.tokens) {
		t := s.cluster.tokens[id]
		if err := enc.Encode(snapshotRecord{JoinToken: &t}); err != nil {
			return err
		}
	}
	if r := s.cluster.rotation; r != nil {
		return enc.Encode(snapshotRecord{DomainRotation: r})
	}
	return nil
}

func (c *clusterState) restore(rec *snapshotRecord) {
	switch {
	case rec.Cluster != nil:
		c.info = rec.Cluster
	case rec.Node != nil:
		c.nodes[rec.Node.ID] = *rec.Node
	case rec.JoinToken != nil:
		c.tokens[rec.JoinToken.ID] = *rec.JoinToken
	case rec.DomainRotation != nil:
		c.rotation = rec.DomainRotation
	case rec.NodeCert != nil && rec.NodeCert.NodeID != "" && validSerial(rec.NodeCert.Serial):
		c.addCert(rec.NodeCert.NodeID, rec.NodeCert.Serial)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
