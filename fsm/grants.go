package fsm

import (
	"errors"

	"github.com/google/btree"
	"github.com/trentkms/trent/wire"
)

// Grant is one grant as replicated. Like Key, a *Grant handed out by the
// FSM is immutable.
type Grant struct {
	// ID is the grant id: 64 lowercase hex characters.
	ID    string `json:"id"`
	KeyID string `json:"key_id"`
	// Name is the optional idempotency name ("" if none).
	Name             string `json:"name,omitempty"`
	CreationDate     int64  `json:"creation_date"` // Unix milliseconds
	GranteePrincipal string `json:"grantee"`
	// RetiringPrincipal may retire the grant ("" if none).
	RetiringPrincipal string `json:"retiring,omitempty"`
	// Operations is a bit set of grant operations; package grants owns the
	// bit assignment, which is stable because it is replicated.
	Operations uint32 `json:"ops"`
	// Constraints on the encryption context; nil maps mean none.
	Subset map[string]string `json:"subset,omitempty"`
	Equals map[string]string `json:"equals,omitempty"`
	// CreatedIndex is the raft index at which the grant was created. Grant
	// tokens carry it so that a node can wait until it has the grant.
	CreatedIndex uint64 `json:"created_index"`
}

// CreateGrant adds a grant, unless a grant with the same Name and the same
// properties exists: then it returns that one (Result.Existing).
type CreateGrant struct {
	Grant Grant `json:"grant"`
	// MaxGrantsPerKey is the limit in force when the grant was proposed;
	// carrying it keeps Apply independent of node configuration.
	MaxGrantsPerKey int `json:"max_grants_per_key"`
}

func (*CreateGrant) Op() Op { return OpCreateGrant }

func (c *CreateGrant) validate() error {
	if c.Grant.ID == "" || c.Grant.KeyID == "" {
		return errors.New("no grant id or key id")
	}
	return nil
}

// apply decides Name idempotency here, in log order, so concurrent retries
// and retries across a leader change can never make two grants.
func (c *CreateGrant) apply(f *FSM, index uint64) *Result {
	g := c.Grant
	k, ok := f.keys.Get(&Key{ID: g.KeyID})
	if !ok {
		return &Result{Err: reject(wire.NotFound, "Key '"+g.KeyID+"' does not exist")}
	}
	if r := k.Unusable(); r != nil {
		return &Result{Err: r}
	}
	if g.Name != "" {
		var existing *Grant
		f.grants.forGrantee(g.KeyID, g.GranteePrincipal, func(h *Grant) bool {
			if h.sameProperties(&g) {
				existing = h
				return false
			}
			return true
		})
		if existing != nil {
			return &Result{Grant: existing, Existing: true}
		}
	}
	if c.MaxGrantsPerKey > 0 && f.grants.perKey[g.KeyID] >= c.MaxGrantsPerKey {
		return &Result{Err: reject(wire.LimitExceeded, "The request was rejected because the key already has the maximum number of grants.")}
	}
	if _, dup := f.grants.get(g.KeyID, g.ID); dup {
		return &Result{Err: reject(wire.KMSInternal, "grant id collision")}
	}
	ng := g
	ng.CreatedIndex = index
	f.grants.insert(&ng)
	return &Result{Grant: &ng}
}

// DeleteGrant removes a grant (RetireGrant and RevokeGrant; who may do
// which was decided by the proposer).
type DeleteGrant struct {
	KeyID   string `json:"key_id"`
	GrantID string `json:"grant_id"`
}

func (*DeleteGrant) Op() Op          { return OpDeleteGrant }
func (*DeleteGrant) validate() error { return nil }

func (c *DeleteGrant) apply(f *FSM, _ uint64) *Result {
	g, ok := f.grants.get(c.KeyID, c.GrantID)
	if !ok {
		return &Result{Err: reject(wire.NotFound, "Grant ID "+c.GrantID+" not found")}
	}
	f.grants.remove(g)
	return &Result{Grant: g}
}

// sameProperties reports whether g and h are the same grant request: every
// property but id, creation date and index. CreateGrant retries with a
// Name are recognized by it.
func (g *Grant) sameProperties(h *Grant) bool {
	return g.KeyID == h.KeyID && g.Name == h.Name && g.GranteePrincipal == h.GranteePrincipal &&
		g.RetiringPrincipal == h.RetiringPrincipal && g.Operations == h.Operations &&
		mapsEqual(g.Subset, h.Subset) && mapsEqual(g.Equals, h.Equals)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Grant indexes. Each orders the same immutable *Grant values.
func grantByKeyLess(a, b *Grant) bool {
	if a.KeyID != b.KeyID {
		return a.KeyID < b.KeyID
	}
	return a.ID < b.ID
}

func grantByRetiringLess(a, b *Grant) bool {
	if a.RetiringPrincipal != b.RetiringPrincipal {
		return a.RetiringPrincipal < b.RetiringPrincipal
	}
	if a.KeyID != b.KeyID {
		return a.KeyID < b.KeyID
	}
	return a.ID < b.ID
}

// granteeKey names the grants of one grantee on one key.
type granteeKey struct{ keyID, grantee string }

// grantIndex holds the grants and their indexes. The trees are
// copy-on-write, so a snapshot clones them in O(1); the maps are derived
// and rebuilt on restore, never snapshotted.
type grantIndex struct {
	byKey      *btree.BTreeG[*Grant] // (key, id): listing, lookup
	byRetiring *btree.BTreeG[*Grant] // (retiring, key, id): ListRetirableGrants
	// byGrantee serves authorization and Name retries in time that does
	// not depend on how many grants the key has.
	byGrantee map[granteeKey][]*Grant
	perKey    map[string]int // grant count per key
}

func newGrantIndex() *grantIndex {
	return &grantIndex{
		byKey:      btree.NewG(32, grantByKeyLess),
		byRetiring: btree.NewG(32, grantByRetiringLess),
		byGrantee:  map[granteeKey][]*Grant{},
		perKey:     map[string]int{},
	}
}

func (x *grantIndex) insert(g *Grant) {
	x.byKey.ReplaceOrInsert(g)
	gk := granteeKey{g.KeyID, g.GranteePrincipal}
	x.byGrantee[gk] = append(x.byGrantee[gk], g)
	if g.RetiringPrincipal != "" {
		x.byRetiring.ReplaceOrInsert(g)
	}
	x.perKey[g.KeyID]++
}

func (x *grantIndex) remove(g *Grant) {
	x.byKey.Delete(g)
	gk := granteeKey{g.KeyID, g.GranteePrincipal}
	list := x.byGrantee[gk]
	kept := make([]*Grant, 0, len(list))
	for _, h := range list {
		if h != g {
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		delete(x.byGrantee, gk)
	} else {
		x.byGrantee[gk] = kept
	}
	if g.RetiringPrincipal != "" {
		x.byRetiring.Delete(g)
	}
	if x.perKey[g.KeyID]--; x.perKey[g.KeyID] <= 0 {
		delete(x.perKey, g.KeyID)
	}
}

// removeKey removes every grant on a key. The grantee lists are the
// key's alone (granteeKey names the key), so they go whole.
func (x *grantIndex) removeKey(keyID string) {
	var gs []*Grant
	x.byKey.AscendGreaterOrEqual(&Grant{KeyID: keyID}, func(g *Grant) bool {
		if g.KeyID != keyID {
			return false
		}
		gs = append(gs, g)
		return true
	})
	for _, g := range gs {
		x.byKey.Delete(g)
		if g.RetiringPrincipal != "" {
			x.byRetiring.Delete(g)
		}
		delete(x.byGrantee, granteeKey{keyID, g.GranteePrincipal})
	}
	delete(x.perKey, keyID)
}

func (x *grantIndex) get(keyID, id string) (*Grant, bool) {
	return x.byKey.Get(&Grant{KeyID: keyID, ID: id})
}

// clone returns a snapshot of the grants: the id-ordered tree only, which
// is all a snapshot writes.
func (x *grantIndex) clone() *grantIndex {
	return &grantIndex{byKey: x.byKey.Clone()}
}

// forGrantee calls fn for each grant on key whose grantee is principal, in
// creation order, until fn returns false. Its cost depends on that
// grantee's grants only.
func (x *grantIndex) forGrantee(keyID, principal string, fn func(*Grant) bool) {
	for _, g := range x.byGrantee[granteeKey{keyID, principal}] {
		if !fn(g) {
			return
		}
	}
}
