package fsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/trentkms/trent/wire"
)

// Domain-key rotation (docs/hsm.md, "Rotating the domain key"). The
// rotation record is replicated: which key replaces which, who must hold
// the new one, the public domain tokens that carry it to each member, and
// how far re-wrapping got. The leader drives it (package cluster); every
// rule that must not race is decided here.

// Rotation states, in order.
const (
	// RotationDistributing: the new key exists in the proposer's HSM and
	// goes to every member (DomainKeyHandoff); nothing is wrapped under it.
	RotationDistributing = "distributing"
	// RotationRewrapping: every member holds the new key and wraps new
	// EKTs under it; the leader re-wraps the old ones in batches (RewrapEKTs).
	RotationRewrapping = "rewrapping"
	// RotationDone: no EKT names the old key; every node destroys it.
	RotationDone = "done"
)

// DomainRotation is the replicated record of the latest domain-key
// rotation. A *DomainRotation handed out by the FSM is immutable.
type DomainRotation struct {
	// Generation counts the cluster's domain keys: the first is 1, the key
	// of the first rotation 2.
	Generation int `json:"generation"`
	// OldKeyID and NewKeyID are the domain key ids (hex) of the key being
	// retired and of its successor.
	OldKeyID string `json:"old_key_id"`
	NewKeyID string `json:"new_key_id"`
	// Reason says what started it ("rotate-domain-key", "remove n3").
	Reason string `json:"reason,omitempty"`
	State  string `json:"state"`
	// Started, Rewrapping and Finished are the proposers' clocks (Unix
	// ms) when the rotation entered each state.
	Started    int64 `json:"started"`
	Rewrapping int64 `json:"rewrapping,omitempty"`
	Finished   int64 `json:"finished,omitempty"`
	// Members are the nodes that must hold the new key before re-wrapping.
	Members []string `json:"members"`
	// Identities are members' HSM identity public keys, Tokens the new
	// key sealed to them (domain token v1; public), Ready the members
	// whose HSM holds it, each by node id.
	Identities map[string][]byte `json:"identities,omitempty"`
	Tokens     map[string][]byte `json:"tokens,omitempty"`
	Ready      []string          `json:"ready,omitempty"`
	// Total is how many EKTs named the old key when re-wrapping began and
	// Rewrapped how many RewrapEKTs replaced since.
	Total     int `json:"total,omitempty"`
	Rewrapped int `json:"rewrapped,omitempty"`
	// Batches counts the RewrapEKTs commands applied.
	Batches int `json:"batches,omitempty"`
	// Queued is the reason of a rotation asked for while this one
	// re-wrapped (a removal: the removed node may hold the new key too);
	// the leader starts it once this one is done.
	Queued string `json:"queued,omitempty"`
}

func (r *DomainRotation) clone() *DomainRotation {
	c := *r
	c.Members = slices.Clone(r.Members)
	c.Ready = slices.Clone(r.Ready)
	c.Identities = cloneBytesMap(r.Identities)
	c.Tokens = cloneBytesMap(r.Tokens)
	return &c
}

func cloneBytesMap(m map[string][]byte) map[string][]byte {
	if m == nil {
		return nil
	}
	c := make(map[string][]byte, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Active reports whether the rotation is still under way.
func (r *DomainRotation) Active() bool { return r != nil && r.State != RotationDone }

// IsReady reports whether node holds the new key.
func (r *DomainRotation) IsReady(node string) bool { return slices.Contains(r.Ready, node) }

// DomainRotation returns the latest rotation record, nil if the cluster
// never rotated its domain key.
func (f *FSM) DomainRotation() *DomainRotation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster.rotation
}

// EKT kinds of a RewrapItem.
const (
	EKTKindKey    = "key"    // a KMS key version: KeyID, Version
	EKTKindCA     = "ca"     // the cluster CA key
	EKTKindGossip = "gossip" // the gossip key
)

// RewrapItem is one EKT to re-wrap: where it is, the EKT it holds (Old)
// and, in RewrapEKTs, its replacement (New).
type RewrapItem struct {
	Kind    string `json:"kind"`
	KeyID   string `json:"key_id,omitempty"`
	Version string `json:"version,omitempty"`
	// Spec is the key spec of a KMS key version (AWS name); internal keys
	// are SYMMETRIC_DEFAULT.
	Spec string `json:"spec,omitempty"`
	Old  []byte `json:"old,omitempty"`
	New  []byte `json:"new,omitempty"`
}

// ektKeyID returns an EKT's domain key id (bytes 2 to 18 of every EKT
// format) in hex, "" for a blob too short.
func ektKeyID(ekt []byte) string {
	if len(ekt) < 18 {
		return ""
	}
	return hex.EncodeToString(ekt[2:18])
}

// StaleEKTs returns up to limit EKTs that do not name the domain key
// keyID (hex), in a fixed order (KMS keys by id and version, then the CA
// and gossip keys), and how many there are in all.
func (f *FSM) StaleEKTs(keyID string, limit int) ([]RewrapItem, int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.staleEKTs(keyID, limit)
}

// staleEKTs is StaleEKTs with f.mu held.
func (f *FSM) staleEKTs(keyID string, limit int) (out []RewrapItem, n int) {
	f.eachEKT(func(it RewrapItem) {
		if ektKeyID(it.Old) == keyID {
			return
		}
		if n++; len(out) < limit {
			out = append(out, it)
		}
	})
	return out, n
}

// eachEKT calls fn with every EKT in the state. f.mu must be held.
func (f *FSM) eachEKT(fn func(RewrapItem)) {
	f.keys.Ascend(func(k *Key) bool {
		for _, v := range k.Versions {
			fn(RewrapItem{Kind: EKTKindKey, KeyID: k.ID, Version: v.ID, Spec: k.KeySpec, Old: v.EKT})
		}
		return true
	})
	if info := f.cluster.info; info != nil {
		if len(info.CAKeyEKT) > 0 {
			fn(RewrapItem{Kind: EKTKindCA, KeyID: info.CAKeyID, Version: info.CAKeyVersion, Spec: "SYMMETRIC_DEFAULT", Old: info.CAKeyEKT})
		}
		if g := info.GossipKey; g != nil {
			fn(RewrapItem{Kind: EKTKindGossip, KeyID: g.KeyID, Version: g.Version, Spec: "SYMMETRIC_DEFAULT", Old: g.EKT})
		}
	}
}

// retiredEKT refuses a new EKT wrapped under a domain key the cluster
// retired: once a rotation is done every node destroys its old key, so an
// EKT made under it by a node that had not switched yet (it generated
// before applying the rotation's progress) would be lost. During a
// rotation any key goes: re-wrapping picks up what is stale. The proposer
// retries once its HSM wraps under the new key.
func (f *FSM) retiredEKT(ekt []byte) *Rejection {
	r := f.cluster.rotation
	if r == nil || r.State != RotationDone || len(ekt) < 18 || ektKeyID(ekt) == r.NewKeyID {
		return nil
	}
	return reject(wire.KMSInternal, "the key material was wrapped under a retired domain key; retry the request")
}

// StartDomainRotation records a new domain-key rotation: the proposer's
// HSM holds the new key. It is refused while another rotation re-wraps;
// one still distributing is replaced (nothing is wrapped under its key
// yet, and its key may be lost with the node that made it).
type StartDomainRotation struct {
	OldKeyID string   `json:"old_key_id"`
	NewKeyID string   `json:"new_key_id"`
	Reason   string   `json:"reason,omitempty"`
	Members  []string `json:"members"`
	// Proposer is the node whose HSM made the new key: it is ready.
	Proposer string `json:"proposer"`
	Now      int64  `json:"now"`
	// Queue asks for a rotation after the one re-wrapping (no key is
	// made yet): it only records Reason in that rotation's Queued.
	Queue bool `json:"queue,omitempty"`
}

func (*StartDomainRotation) Op() Op { return OpStartDomainRotation }

func (c *StartDomainRotation) validate() error {
	if c.Queue {
		return nil
	}
	if c.OldKeyID == "" || c.NewKeyID == "" || c.Proposer == "" {
		return errors.New("no domain key ids or proposer")
	}
	return nil
}

func validKeyID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16 && hex.EncodeToString(b) == s
}

func (c *StartDomainRotation) apply(f *FSM, _ uint64) *Result {
	if c.Queue {
		r := f.cluster.rotation
		if !r.Active() {
			return &Result{Err: reject(wire.KMSInvalidState, "no domain-key rotation is under way to queue behind")}
		}
		n := r.clone()
		n.Queued = c.Reason
		f.cluster.rotation = n
		return &Result{}
	}
	if !validKeyID(c.OldKeyID) || !validKeyID(c.NewKeyID) || c.OldKeyID == c.NewKeyID {
		return &Result{Err: reject(wire.Validation, "The old and new domain key ids are 32 lowercase hex digits and differ.")}
	}
	cs := f.cluster
	prev := cs.rotation
	gen := 2
	switch {
	case prev == nil:
	case prev.State == RotationRewrapping:
		return &Result{Err: reject(wire.KMSInvalidState, "a domain-key rotation is re-wrapping; wait until it is done")}
	case prev.State == RotationDistributing:
		gen = prev.Generation // replaced: its key never wrapped anything
		if c.OldKeyID != prev.OldKeyID {
			return &Result{Err: reject(wire.KMSInvalidState, "the domain key being replaced is not the cluster's")}
		}
	default:
		gen = prev.Generation + 1
		if c.OldKeyID != prev.NewKeyID {
			return &Result{Err: reject(wire.KMSInvalidState, "the domain key being replaced is not the cluster's")}
		}
	}
	cs.rotation = &DomainRotation{Generation: gen, OldKeyID: c.OldKeyID, NewKeyID: c.NewKeyID, Reason: c.Reason,
		State: RotationDistributing, Started: c.Now, Members: slices.Sorted(slices.Values(c.Members)), Ready: []string{c.Proposer}}
	return &Result{}
}

// DomainKeyHandoff moves the new key to a node: the node posts its HSM
// identity key, a node holding the key posts a token sealed to it, and
// the node, once its HSM holds the key, posts Ready. Each field is set
// once; a handoff for another generation or key is refused.
type DomainKeyHandoff struct {
	Generation int    `json:"generation"`
	NewKeyID   string `json:"new_key_id"`
	Node       string `json:"node"`
	Identity   []byte `json:"identity,omitempty"`
	Token      []byte `json:"token,omitempty"`
	Ready      bool   `json:"ready,omitempty"`
}

func (*DomainKeyHandoff) Op() Op { return OpDomainKeyHandoff }

func (c *DomainKeyHandoff) validate() error {
	if c.Node == "" || (len(c.Identity) == 0 && len(c.Token) == 0 && !c.Ready) {
		return errors.New("no node or nothing to hand off")
	}
	return nil
}

// current returns the rotation a command for (gen, keyID) addresses, or
// the rejection.
func (cs *clusterState) current(gen int, keyID string) (*DomainRotation, *Rejection) {
	r := cs.rotation
	if r == nil || r.Generation != gen || r.NewKeyID != keyID {
		return nil, reject(wire.KMSInvalidState, "the domain-key rotation changed; this step belongs to another")
	}
	return r, nil
}

func (c *DomainKeyHandoff) apply(f *FSM, _ uint64) *Result {
	r, rej := f.cluster.current(c.Generation, c.NewKeyID)
	if rej != nil {
		return &Result{Err: rej}
	}
	n := r.clone()
	if len(c.Identity) > 0 && n.Identities[c.Node] == nil {
		if n.Identities == nil {
			n.Identities = map[string][]byte{}
		}
		n.Identities[c.Node] = c.Identity
	}
	if len(c.Token) > 0 && n.Tokens[c.Node] == nil {
		if n.Tokens == nil {
			n.Tokens = map[string][]byte{}
		}
		n.Tokens[c.Node] = c.Token
	}
	if c.Ready && !n.IsReady(c.Node) {
		n.Ready = append(n.Ready, c.Node)
		slices.Sort(n.Ready)
	}
	f.cluster.rotation = n
	return &Result{}
}

// AdvanceDomainRotation moves a rotation to its next state: to
// rewrapping once every member still in the cluster (Members, the
// proposer's raft configuration) is ready, to done once no EKT names
// another key than the new one.
type AdvanceDomainRotation struct {
	Generation int      `json:"generation"`
	NewKeyID   string   `json:"new_key_id"`
	State      string   `json:"state"`
	Members    []string `json:"members,omitempty"`
	Now        int64    `json:"now"`
}

func (*AdvanceDomainRotation) Op() Op { return OpAdvanceDomainRotation }

func (c *AdvanceDomainRotation) validate() error {
	if c.State == "" {
		return errors.New("no state")
	}
	return nil
}

func (c *AdvanceDomainRotation) apply(f *FSM, _ uint64) *Result {
	r, rej := f.cluster.current(c.Generation, c.NewKeyID)
	if rej != nil {
		return &Result{Err: rej}
	}
	n := r.clone()
	switch {
	case r.State == c.State:
		return &Result{} // a retry
	case c.State == RotationRewrapping && r.State == RotationDistributing:
		for _, m := range c.Members {
			if !r.IsReady(m) {
				return &Result{Err: reject(wire.KMSInvalidState, "member "+m+" does not hold the new domain key yet")}
			}
		}
		n.State, n.Rewrapping = RotationRewrapping, c.Now
		n.Total = f.staleLocked(r.NewKeyID)
	case c.State == RotationDone && r.State == RotationRewrapping:
		if f.staleLocked(r.NewKeyID) > 0 {
			return &Result{Err: reject(wire.KMSInvalidState, "EKTs under the old domain key remain")}
		}
		n.State, n.Finished = RotationDone, c.Now
		n.Identities, n.Tokens = nil, nil
	default:
		return &Result{Err: reject(wire.KMSInvalidState, "the domain-key rotation is "+r.State)}
	}
	f.cluster.rotation = n
	return &Result{}
}

// staleLocked counts the EKTs not under keyID. f.mu must be held.
func (f *FSM) staleLocked(keyID string) int {
	_, n := f.staleEKTs(keyID, 0)
	return n
}

// RewrapEKTs replaces a batch of EKTs with their re-wrapped copies. The
// batch is refused unless its rotation is the one re-wrapping; an item
// whose EKT changed since it was read (Old differs: the key was deleted or
// already re-wrapped) or whose New does not name the new key is skipped,
// so a batch applies at most once in effect.
type RewrapEKTs struct {
	Generation int          `json:"generation"`
	NewKeyID   string       `json:"new_key_id"`
	Items      []RewrapItem `json:"items"`
}

func (*RewrapEKTs) Op() Op { return OpRewrapEKTs }

// MaxRewrapBatch bounds the items of one RewrapEKTs.
const MaxRewrapBatch = 256

func (c *RewrapEKTs) validate() error {
	if len(c.Items) > MaxRewrapBatch {
		return errors.New("a batch holds at most 256 EKTs")
	}
	return nil
}

func (c *RewrapEKTs) apply(f *FSM, _ uint64) *Result {
	r, rej := f.cluster.current(c.Generation, c.NewKeyID)
	if rej != nil {
		return &Result{Err: rej}
	}
	if r.State != RotationRewrapping {
		return &Result{Err: reject(wire.KMSInvalidState, "the domain-key rotation is "+r.State)}
	}
	done := 0
	for _, it := range c.Items {
		if ektKeyID(it.New) == c.NewKeyID && f.replaceEKT(it) {
			done++
		}
	}
	n := r.clone()
	n.Rewrapped += done
	n.Batches++
	f.cluster.rotation = n
	return &Result{}
}

// replaceEKT puts it.New where it.Old is, if it still is.
func (f *FSM) replaceEKT(it RewrapItem) bool {
	cs := f.cluster
	switch it.Kind {
	case EKTKindKey:
		k, ok := f.keys.Get(&Key{ID: it.KeyID})
		if !ok {
			return false
		}
		i := slices.IndexFunc(k.Versions, func(v KeyVersion) bool { return v.ID == it.Version })
		if i < 0 || !bytes.Equal(k.Versions[i].EKT, it.Old) {
			return false
		}
		n := k.clone()
		n.Versions[i].EKT = it.New
		f.keys.ReplaceOrInsert(n)
	case EKTKindCA:
		if cs.info == nil || !bytes.Equal(cs.info.CAKeyEKT, it.Old) {
			return false
		}
		info := *cs.info
		info.CAKeyEKT = it.New
		cs.info = &info
	case EKTKindGossip:
		if cs.info == nil || cs.info.GossipKey == nil || !bytes.Equal(cs.info.GossipKey.EKT, it.Old) {
			return false
		}
		info := *cs.info
		g := *info.GossipKey
		g.EKT = it.New
		info.GossipKey = &g
		cs.info = &info
	default:
		return false
	}
	return true
}
