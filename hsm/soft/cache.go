package soft

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/trentkms/trent/hsm"
)

// defaultCacheSize is how many unwrapped key versions an HSM keeps.
const defaultCacheSize = 1024

type cacheKey struct {
	keyID, versionID [16]byte
}

type cacheEntry struct {
	key      cacheKey
	spec     hsm.KeySpec
	ekt      []byte // the exact EKT the material came from
	material []byte
	// private is the parsed private key of an asymmetric spec (material
	// is then nil): parsing costs more than signing with a P-256 key.
	// Go cannot wipe it; eviction drops the reference.
	private any
}

// materialCache is a bounded LRU of unwrapped key material keyed by
// (keyID, versionID). A hit also requires the caller's spec and EKT bytes
// to equal those the entry was unwrapped from, so a cached entry can never
// vouch for an EKT that was not itself authenticated. Material is copied
// out, never lent, so eviction can wipe it. Safe for concurrent use.
type materialCache struct {
	max int

	mu      sync.Mutex // guards the following fields
	entries map[cacheKey]*list.Element
	lru     list.List // of *cacheEntry, most recently used first
	// forgets counts forget calls: material unwrapped before a forget
	// (read with generation) is not cached after it (putAt).
	forgets uint64
	// hits and misses count get's answers (metrics).
	hits, misses uint64
}

func newMaterialCache(max int) *materialCache {
	return &materialCache{max: max, entries: make(map[cacheKey]*list.Element)}
}

// get copies the material for ref into dst and reports whether it was cached.
func (c *materialCache) get(ref *hsm.KeyRef, dst []byte) bool {
	if c.max <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[cacheKey{ref.KeyID, ref.VersionID}]
	if !ok {
		c.misses++
		return false
	}
	e := el.Value.(*cacheEntry)
	if e.spec != ref.Spec || !bytes.Equal(e.ekt, ref.EKT) || len(dst) != len(e.material) {
		c.misses++
		return false
	}
	c.hits++
	c.lru.MoveToFront(el)
	copy(dst, e.material)
	return true
}

// getPrivate returns the parsed private key cached for ref, if any.
func (c *materialCache) getPrivate(ref *hsm.KeyRef) (any, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[cacheKey{ref.KeyID, ref.VersionID}]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if e.spec != ref.Spec || !bytes.Equal(e.ekt, ref.EKT) || e.private == nil {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.private, true
}

// generation returns the number of forget calls so far, to pass to putAt.
func (c *materialCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

// putAt stores a copy of material, unwrapped from ref.EKT after
// generation was read, unless a forget came in between: that forget may
// have been of ref's key, whose material must not come back.
func (c *materialCache) putAt(ref *hsm.KeyRef, material []byte, generation uint64) {
	c.put(ref, &cacheEntry{material: bytes.Clone(material)}, generation)
}

// putPrivateAt is putAt for the parsed private key of an asymmetric spec.
func (c *materialCache) putPrivateAt(ref *hsm.KeyRef, private any, generation uint64) {
	c.put(ref, &cacheEntry{private: private}, generation)
}

func (c *materialCache) put(ref *hsm.KeyRef, e *cacheEntry, generation uint64) {
	if c.max <= 0 {
		return
	}
	k := cacheKey{ref.KeyID, ref.VersionID}
	e.key, e.spec, e.ekt = k, ref.Spec, bytes.Clone(ref.EKT)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != generation {
		clear(e.material)
		return
	}
	if old, ok := c.entries[k]; ok {
		c.remove(old)
	}
	c.entries[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// remove drops el and wipes its material. c.mu must be held.
func (c *materialCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	clear(e.material)
	e.private = nil
}

// forget drops and wipes the entries of every version of keyID.
func (c *materialCache) forget(keyID [16]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if el.Value.(*cacheEntry).key.keyID == keyID {
			c.remove(el)
		}
		el = next
	}
}

// purge drops and wipes every entry.
func (c *materialCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

// stats returns how many lookups found their material, and how many did not.
func (c *materialCache) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// len returns the number of cached entries.
func (c *materialCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
